"""The stream benchmark's pure parts: its table and its reading of /proc."""

from __future__ import annotations

import os
import subprocess
import sys

from streamproc.commands.bench_stream import Case, Result, _cpu_seconds, results_table, traffic_table


def test_cpu_seconds_counts_this_process_and_nothing_for_a_gone_one():
    busy = _cpu_seconds(os.getpid())
    sum(i * i for i in range(300_000))
    assert _cpu_seconds(os.getpid()) > busy > 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert _cpu_seconds(gone.pid) == 0.0


def test_results_table_has_a_row_per_case_with_the_cores_each_group_kept_busy():
    result = Result(case=Case("max, 2 workers", 2, 1000, None), seconds=2.0, events_per_s=500.0, p50_ms=12.5,
                    p99_ms=None, recommendations=990, ceiling_per_s=9000.0, rss_mib=[300.0, 310.0], reflected=1000,
                    cores={"workers": 1.234, "broker": 0.4, "client": 0.05}, worker_cpu_s=0.5,
                    traffic={"listens": (1000, 114_000), "recommendations": (990, 1_900_000),
                             "{app}-user-state": (3, 150_000)}, progress=[], worker_p50_ms=[8.25, None])
    table = results_table([result]).splitlines()
    assert table[0].endswith("| cores busy: workers / broker / client | worker CPU µs per event "
                             "| messages per event | state B per event |")
    assert table[2] == ("| max, 2 workers | 2 | 1,000 | max | 10 | 500 | 12.5 | - | 8.2 / - | 990 | 9,000 | 300 / 310 "
                        "| 1.23 / 0.40 / 0.05 | 500 | 1.99 | 150 |")
    traffic = traffic_table([result]).splitlines()
    assert "| {app}-user-state | 0.003 / 150.0 |" in traffic and traffic[-1].endswith("| 1.993 / 150.0 |")


def test_standby_compare_repeats_the_rate_cases_of_several_workers_without_standbys():
    from streamproc.commands.bench_stream import cases
    from streamproc.cli import build_parser

    args = build_parser().parse_args(["bench", "stream", "--workers", "1,2", "--rate", "500", "--rate-seconds", "20",
                                      "--standby-compare"])
    found = [(case.name, case.workers, case.events, case.standby_replicas) for case in cases(args)]
    assert found == [("500/s, 1 worker", 1, 10_000, 1), ("500/s, 2 workers", 2, 10_000, 1),
                     ("500/s, 2 workers, no standby", 2, 10_000, 0)]


def test_lists_held_repeats_the_max_cases_with_lists_held_and_no_retraining():
    from streamproc.commands.bench_stream import LISTS_HELD, cases
    from streamproc.cli import build_parser

    args = build_parser().parse_args(["bench", "stream", "--workers", "1,4", "--events", "5000", "--lists-held"])
    found = [(case.name, case.workers, case.events, case.overrides) for case in cases(args)]
    assert found == [("max, 1 worker", 1, 5000, {}), ("max, 4 workers", 4, 5000, {}),
                     ("max, 1 worker, lists held", 1, 5000, LISTS_HELD), ("max, 4 workers, lists held", 4, 5000, LISTS_HELD)]
    assert float(LISTS_HELD["list_interval_seconds"]) >= 3600 and int(LISTS_HELD["retrain_events"]) > 10**9


def test_rate_runs_repeat_each_rate_case_and_the_medians_of_their_percentiles_are_reported():
    from streamproc.commands.bench_stream import cases, runs_table
    from streamproc.cli import build_parser

    args = build_parser().parse_args(["bench", "stream", "--workers", "2", "--rate", "500", "--rate-runs", "3"])
    chosen = cases(args)
    assert [case.name for case in chosen] == [f"500/s, 2 workers, run {k} of 3" for k in (1, 2, 3)]

    def run(case: Case, p50: float, p99: float) -> Result:
        return Result(case=case, seconds=20.0, events_per_s=500.0, p50_ms=p50, p99_ms=p99, recommendations=1,
                      ceiling_per_s=1.0, rss_mib=[], reflected=1, cores={}, worker_cpu_s=1.0, traffic={}, progress=[])

    table = runs_table([run(c, p50, p99) for c, p50, p99 in zip(chosen, (40.0, 61.5, 35.0), (120.0, 90.0, 300.0))])
    assert table.splitlines()[2] == "| 500/s, 2 workers | 3 | 40.0 / 61.5 / 35.0 | 40.0 | 120.0 / 90.0 / 300.0 | 120.0 |"
    assert runs_table([run(chosen[0], 40.0, 120.0)]) == "(no fixed-rate case was run more than once)"


def test_runs_alternate_the_worker_counts_and_the_median_cpu_per_event_is_set_against_one_workers():
    from streamproc.commands.bench_stream import cases, cpu_table
    from streamproc.cli import build_parser

    args = build_parser().parse_args(["bench", "stream", "--workers", "1,4", "--events", "1000", "--runs", "3"])
    chosen = cases(args)
    assert [case.name for case in chosen] == [f"max, {n} worker{'s' * (n > 1)}, run {k} of 3"
                                              for k in (1, 2, 3) for n in (1, 4)]

    def run(case: Case, cpu_s: float, lists: int) -> Result:
        return Result(case=case, seconds=1.0, events_per_s=1000.0, p50_ms=None, p99_ms=None, recommendations=1,
                      ceiling_per_s=1.0, rss_mib=[], reflected=1, cores={}, worker_cpu_s=cpu_s,
                      traffic={"recommendations": (lists, 0)}, progress=[])

    cpu = (0.10, 0.12, 0.08, 0.11, 0.09, 0.20)
    table = cpu_table([run(c, s, 100) for c, s in zip(chosen, cpu)]).splitlines()
    assert table[2] == "| max, 1 worker | 3 | 100 / 80 / 90 | 90 | 1.00 | 0.100 / 0.100 / 0.100 | 1,000 |"
    assert table[3] == "| max, 4 workers | 3 | 120 / 110 / 200 | 120 | 1.33 | 0.100 / 0.100 / 0.100 | 1,000 |"
    assert cpu_table([run(chosen[0], 0.1, 100)]) == "(no as-fast-as-possible case was run more than once)"


def test_settle_returns_once_the_processes_rest_and_gives_up_on_busy_ones(monkeypatch):
    import asyncio

    from streamproc.commands import bench_stream

    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert asyncio.run(bench_stream._settle([idle.pid])) < 3
        monkeypatch.setattr(bench_stream, "SETTLE_TIMEOUT_S", 2.0)
        assert asyncio.run(bench_stream._settle([busy.pid])) >= 2.0
    finally:
        idle.kill()
        busy.kill()
