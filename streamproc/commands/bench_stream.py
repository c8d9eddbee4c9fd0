"""The ``bench stream`` command: events/s and end-to-end latency of real workers on a real broker.

    streamproc bench stream [--workers 1,2] [--events E] [--max] [--runs K] [--rate R] [--rate-runs K]
                            [--fetch-compare] [--standby-compare] [--lists-held] [--block B] [--write] [--section S]

Each case starts a fresh embedded broker and N ``streamproc worker`` processes, sends a simulated
catalogue, then E simulated listening events (keyed by user) as fast as possible (``--max``: in
batches built per partition, so that the backlog is on the broker within about a second whatever
the workers leave this client of the cores) or at R events a second (``--rate``), while an aiokafka
consumer reads ``recommendations``. ``--runs`` and ``--rate-runs`` repeat the cases, each on a
fresh broker, and report the medians, since one run on a shared machine swings by a third.
Latency is the time from an event's produce time (its Kafka timestamp) to the moment the
recommendation carrying it (its ``event_ts``) is read; each worker's own p50 (from its
``/api/stats/``: produce time to the list's send) splits that into the worker's part and the way
back; events/s is E over the time from the first
event sent to the last recommendation read. The ceiling is the raw aiokafka consume rate of the
same ``listens`` topic on the same broker, read after the case. RSS of each worker is read from
/proc after the run, and so are the cores that the workers, the broker and this client kept busy
on average (CPU seconds over the case's wall time), which tell when the machine, not the
workers, was the limit. ``--fetch-compare`` adds three low-load cases, one worker each, with Faust's
hard-coded 1500 ms fetch wait, with 100 ms and with 20 ms (``STREAMPROC_FETCH_MAX_WAIT_MS``).
``--standby-compare`` repeats each case of several workers at rate R without standby replicas
(``STREAMPROC_STANDBY_REPLICAS=0``), whose reading of every changelog loads the shared broker.
``--lists-held`` repeats each as-fast-as-possible case with a user's lists held after their first
until the worker has caught up (``STREAMPROC_LIST_INTERVAL_SECONDS`` of a day,
``STREAMPROC_LIST_BEHIND_EVENTS`` 0: however little the worker lags) and no retraining after the
first model: what an event costs a worker besides ranking, beside what it costs with the lists, at
two lists a user whatever the worker count.

After each case every topic on the broker is read back: messages and bytes (keys, values and
headers) per listening event, by topic, and the state bytes per event (every topic but
``listens``, ``tracks`` and ``recommendations``). The workers' CPU seconds per 1,000 events say
whether adding workers repeats work. Events/s is also reported for each block of B events
(``--block``, from the workers' own counts sampled twice a second), so a long run shows whether
the stream slows as it goes. Results go to the ``stream`` section of bench/RESULTS.md with
``--write``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from streamproc.kafka.broker import EmbeddedBroker, free_port
from streamproc.kafka.cluster import split
from streamproc.errors import CommandError
from streamproc.kafka.processes import WorkerProcess
from streamproc.kafka.producer import MAX_REQUEST_BYTES
from streamproc.settings import settings
from streamproc.simulator import generate_catalogue, make_listeners, simulate_listens
from streamproc.kafka.admin import ensure_topics
from tables.codec import decode_object
from tables.topics import LISTENS, RECOMMENDATIONS, TRACKS

DRAIN_S = 2.0
# How long a case may take to process its events: at least this, or one second per 100 events.
CASE_TIMEOUT_S = 600.0
SECTIONS = {
    "stream": "Stream processing: events/s and end-to-end latency",
    "stream-memory": "Stream processing: a worker's memory after a long run",
    "stream-latency": "Stream processing: latency at a fixed rate, run after run",
}
READ_WAIT_MS = 10
# The events, the catalogue and the lists: what the state bytes per event leave out.
PAYLOAD_TOPICS = (LISTENS, TRACKS, RECOMMENDATIONS)
PROGRESS_EVERY_S = 0.5
# A worker at rest keeps about 0.06 of a core busy polling the broker: more means start-up work goes on.
QUIET_CORES = 0.15
SETTLE_TIMEOUT_S = 60.0


@dataclasses.dataclass
class Case:
    """One benchmark run: how many workers, how many events, at what rate (None: as fast as possible)."""

    name: str
    workers: int
    events: int
    rate: float | None
    fetch_wait_ms: int = settings.fetch_max_wait_ms
    standby_replicas: int = settings.standby_replicas
    # Further worker settings of the case (name → value, as STREAMPROC_<NAME>).
    overrides: dict[str, str] = dataclasses.field(default_factory=dict)


# A user's lists after the first held, however little the worker lags, until the worker has caught up, and no
# retraining after the first model: ranking all but gone, and the same for any number of workers.
LISTS_HELD = {"list_interval_seconds": "86400", "list_behind_events": "0", "retrain_events": str(10**12),
              "retrain_seconds": "86400"}


@dataclasses.dataclass
class Result:
    """What one case measured."""

    case: Case
    seconds: float
    events_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    recommendations: int
    ceiling_per_s: float
    rss_mib: list[float]
    reflected: int
    cores: dict[str, float]
    worker_cpu_s: float
    traffic: dict[str, tuple[int, int]]
    progress: list[tuple[float, int]]
    # each worker's own p50 over its last minute: produce time to the list's send, before the way back
    worker_p50_ms: list[float | None] = dataclasses.field(default_factory=list)

    def per_event(self, topic: str) -> tuple[float, float]:
        """Return the messages and bytes ``topic`` received per listening event."""
        messages, size = self.traffic.get(topic, (0, 0))
        return messages / self.case.events, size / self.case.events

    def messages_per_event(self) -> float:
        """Return the messages every topic received per listening event, the events themselves included."""
        return sum(messages for messages, _ in self.traffic.values()) / self.case.events

    def state_bytes_per_event(self) -> float:
        """Return the bytes per listening event of every topic but the input and the output."""
        return sum(size for topic, (_, size) in self.traffic.items() if topic not in PAYLOAD_TOPICS) / self.case.events


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``bench`` command with its ``stream`` benchmark."""
    parser = commands.add_parser("bench", help="benchmarks on a real broker and real workers")
    benches = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    stream = benches.add_parser("stream", help="events/s and end-to-end latency of N workers",
                                description=__doc__.splitlines()[0])
    stream.add_argument("--workers", default="1", metavar="N[,N...]",
                        help="worker counts to run, comma-separated (default: 1)")
    stream.add_argument("--events", type=int, default=100_000, metavar="E",
                        help="events of each as-fast-as-possible case (default: 100000)")
    stream.add_argument("--max", action="store_true", help="send the events as fast as possible (the default "
                        "unless --rate is given)")
    stream.add_argument("--rate", type=float, metavar="R", help="also a case at R events a second")
    stream.add_argument("--rate-seconds", type=float, default=20.0, metavar="S",
                        help="how long each fixed-rate case sends (default: 20)")
    stream.add_argument("--rate-runs", type=int, default=1, metavar="K",
                        help="run each fixed-rate case K times, each on a fresh broker, and report the "
                             "median of their percentiles too (default: 1)")
    stream.add_argument("--runs", type=int, default=1, metavar="K",
                        help="run each as-fast-as-possible case K times, the worker counts taking turns, and "
                             "report the median of their CPU per event too (default: 1)")
    stream.add_argument("--users", type=int, default=5000, help="simulated listeners (default: 5000)")
    stream.add_argument("--tracks", type=int, default=5000, help="simulated catalogue size (default: 5000)")
    stream.add_argument("--fetch-compare", action="store_true",
                        help="also latency at low load with the 1500, 100 and 20 ms fetch waits")
    stream.add_argument("--standby-compare", action="store_true",
                        help="also each case of several workers at --rate without standby replicas")
    stream.add_argument("--lists-held", action="store_true",
                        help="also each as-fast-as-possible case with lists held after each user's first until "
                             "the worker has caught up, and no retraining: what an event costs besides ranking")
    stream.add_argument("--block", type=int, default=100_000, metavar="B",
                        help="report events/s for each block of B events (default: 100000)")
    stream.add_argument("--write", action="store_true", help="write the table to bench/RESULTS.md")
    stream.add_argument("--section", default="stream", choices=sorted(SECTIONS),
                        help="the section of bench/RESULTS.md that --write replaces (default: stream)")
    stream.set_defaults(func=run)


def cases(args: argparse.Namespace) -> list[Case]:
    """Return the cases the options ask for; raise CommandError for a bad count, event number or rate."""
    try:
        counts = [int(n) for n in args.workers.split(",")]
    except ValueError:
        raise CommandError(f"--workers takes counts like 1,2; got {args.workers!r}") from None
    if (any(n < 1 for n in counts) or args.events < 1 or (args.rate is not None and args.rate <= 0)
            or args.rate_runs < 1 or args.runs < 1):
        raise CommandError("--workers, --events, --rate, --rate-runs and --runs must be positive")
    chosen = []
    if args.max or args.rate is None:
        # Run k of every count before run k + 1 of any, so that a slow spell of the machine falls on all counts.
        for k in range(args.runs):
            run = f", run {k + 1} of {args.runs}" if args.runs > 1 else ""
            chosen += [Case(f"max, {n} worker{'s' * (n > 1)}{run}", n, args.events, None) for n in counts]
            if args.lists_held:
                chosen += [Case(f"max, {n} worker{'s' * (n > 1)}, lists held{run}", n, args.events, None,
                                overrides=LISTS_HELD) for n in counts]
    if args.rate:
        events = int(args.rate * args.rate_seconds)
        runs = args.rate_runs
        chosen += [Case(f"{args.rate:g}/s, {n} worker{'s' * (n > 1)}" + (f", run {k + 1} of {runs}" if runs > 1 else ""),
                        n, events, args.rate) for n in counts for k in range(runs)]
        if args.standby_compare:
            chosen += [Case(f"{args.rate:g}/s, {n} workers, no standby", n, events, args.rate, standby_replicas=0)
                      for n in counts if n > 1]
    if args.fetch_compare:
        low = 50.0
        events = int(low * args.rate_seconds)
        chosen += [Case(f"{low:g}/s, fetch wait {wait} ms", 1, events, low, wait) for wait in (1500, 100, 20)]
    return chosen


def run(args: argparse.Namespace) -> int:
    """Run the cases the options ask for, print their table and optionally write it."""
    results = []
    for case in cases(args):
        print(f"running: {case.name}, {case.events:,} events", file=sys.stderr, flush=True)
        result = asyncio.run(run_case(case, args.users, args.tracks))
        print(format_result(result), file=sys.stderr, flush=True)
        results.append(result)
    table = "\n\n".join([results_table(results), runs_table(results), cpu_table(results), traffic_table(results),
                          blocks_table(results, args.block)])
    print(table)
    if args.write:
        from bench.results import write_section

        body = (
            f"Simulated listeners: {args.users:,} users over {args.tracks:,} tracks; every worker with the "
            f"default settings (batches of up to {settings.batch_size} events, as fetched, a "
            f"{settings.fetch_max_wait_ms} ms fetch wait, a "
            f"{settings.producer_linger_ms} ms producer linger, compression {settings.compression}, retraining every {settings.retrain_events:,} "
            f"events (no sooner than {settings.retrain_min_seconds:g} s after the last) or {settings.retrain_seconds:g} s, "
            "then a background refresh of every owned user's list; `lists held`: a user's lists after the first held "
            "until the worker has caught up however little it lags, and no retraining after the first model). Latency: an event's produce time to the read of the "
            "recommendation carrying it; at each worker: to the list's send, over the worker's last minute "
            "(the rest is the producer's linger, the broker and this reader's fetch); events/s: events over first send to last recommendation read. "
            "Ceiling: raw aiokafka consumption of the same `listens` topic, same broker, same run. "
            "Broker, workers and this client share the machine's cores; a column says how many "
            "each kept busy on average. Messages and bytes per event: every topic read back from the "
            "broker after the case, divided by the listening events; state: every topic but "
            "`listens`, `tracks` and `recommendations`.\n\n" + table
        )
        path = write_section(args.section, SECTIONS[args.section], body,
                             command="streamproc bench stream " + " ".join(sys.argv[3:]))
        print(f"written to {path}", file=sys.stderr)
    return 0


def results_table(results: list[Result]) -> str:
    """Return ``results`` as a Markdown table."""
    from bench.results import markdown_table

    rows = [[
        r.case.name, r.case.workers, f"{r.case.events:,}",
        f"{r.case.rate:g}" if r.case.rate else "max", r.case.fetch_wait_ms,
        f"{r.events_per_s:,.0f}", _ms(r.p50_ms), _ms(r.p99_ms), " / ".join(map(_ms, r.worker_p50_ms)) or "-",
        f"{r.recommendations:,}",
        f"{r.ceiling_per_s:,.0f}", " / ".join(f"{m:.0f}" for m in r.rss_mib),
        " / ".join(f"{r.cores[name]:.2f}" for name in ("workers", "broker", "client")),
        f"{r.worker_cpu_s / r.case.events * 1e6:.0f}", f"{r.messages_per_event():.2f}",
        f"{r.state_bytes_per_event():.0f}",
    ] for r in results]
    return markdown_table(
        ["case", "workers", "events", "offered /s", "fetch wait ms", "events/s", "p50 ms", "p99 ms",
         "p50 ms at each worker: produced to list sent", "recommendations", "ceiling: aiokafka consume /s", "RSS MiB per worker",
         "cores busy: workers / broker / client", "worker CPU µs per event", "messages per event",
         "state B per event"], rows)


def runs_table(results: list[Result]) -> str:
    """Return, for each fixed-rate case run more than once, every run's p50 and p99 and their medians, as Markdown."""
    from bench.results import markdown_table

    runs: dict[tuple[float, int], list[Result]] = {}
    for r in results:
        if r.case.rate is not None and r.p50_ms is not None:
            runs.setdefault((r.case.rate, r.case.workers), []).append(r)
    rows = [[f"{rate:g}/s, {workers} worker{'s' * (workers > 1)}", len(done),
             " / ".join(f"{r.p50_ms:.1f}" for r in done), f"{np.median([r.p50_ms for r in done]):.1f}",
             " / ".join(f"{r.p99_ms:.1f}" for r in done), f"{np.median([r.p99_ms for r in done]):.1f}"]
            for (rate, workers), done in runs.items() if len(done) > 1]
    if not rows:
        return "(no fixed-rate case was run more than once)"
    return markdown_table(["case", "runs", "p50 ms of each run", "median p50 ms", "p99 ms of each run",
                           "median p99 ms"], rows)


def cpu_table(results: list[Result]) -> str:
    """Return, for each as-fast-as-possible case run more than once, the workers' CPU per event and lists per
    event of every run, their medians, and the median CPU against one worker's of the same kind, as Markdown."""
    from bench.results import markdown_table

    runs: dict[tuple[bool, int], list[Result]] = {}
    for r in results:
        if r.case.rate is None:
            runs.setdefault((r.case.overrides == LISTS_HELD, r.case.workers), []).append(r)
    medians = {key: float(np.median([r.worker_cpu_s / r.case.events * 1e6 for r in done]))
               for key, done in runs.items()}
    rows = [[f"max, {workers} worker{'s' * (workers > 1)}" + (", lists held" if held else ""), len(done),
             " / ".join(f"{r.worker_cpu_s / r.case.events * 1e6:.0f}" for r in done), f"{medians[held, workers]:.0f}",
             f"{medians[held, workers] / medians[held, 1]:.2f}" if (held, 1) in medians else "-",
             " / ".join(f"{r.per_event(RECOMMENDATIONS)[0]:.3f}" for r in done),
             f"{np.median([r.events_per_s for r in done]):,.0f}"]
            for (held, workers), done in sorted(runs.items()) if len(done) > 1]
    if not rows:
        return "(no as-fast-as-possible case was run more than once)"
    return markdown_table(["case", "runs", "worker CPU µs per event of each run", "median", "median / 1 worker's",
                           "lists per event of each run", "median events/s"], rows)


def traffic_table(results: list[Result]) -> str:
    """Return the messages and bytes per listening event of each topic, one column pair per case."""
    from bench.results import markdown_table

    topics = sorted({topic for r in results for topic in r.traffic})
    rows = [[topic] + [
        f"{r.per_event(topic)[0]:.3f} / {r.per_event(topic)[1]:.1f}" for r in results] for topic in topics]
    rows.append(["all topics (messages) / state (bytes)"] + [
        f"{r.messages_per_event():.3f} / {r.state_bytes_per_event():.1f}" for r in results])
    return markdown_table(["topic: messages / bytes per listening event"] + [r.case.name for r in results], rows)


def blocks_table(results: list[Result], block: int) -> str:
    """Return events/s over each block of ``block`` events of each case long enough to have two."""
    from bench.results import markdown_table

    long = [r for r in results if r.case.events >= 2 * block]
    if not long:
        return f"(no case has two blocks of {block:,} events)"
    rates = [block_rates(r.progress, block) for r in long]
    rows = [[f"{i * block:,}–{(i + 1) * block:,}"] + [f"{r[i]:,.0f}" if i < len(r) else "-" for r in rates]
            for i in range(max(map(len, rates)))]
    rows.append(["last block / first block"] + [f"{r[-1] / r[0]:.2f}" if r else "-" for r in rates])
    return markdown_table(["events"] + [f"{r.case.name}: events/s" for r in long], rows)


def block_rates(progress: list[tuple[float, int]], block: int) -> list[float]:
    """Return the events a second over each whole block of ``block`` events in ``progress`` ((time, events) samples).

    >>> block_rates([(0.0, 0), (1.0, 100), (2.0, 150), (4.0, 200)], 100)
    [100.0, 33.333333333333336]
    """
    rates = []
    start_time, next_mark = progress[0][0] if progress else 0.0, block
    for time_s, done in progress:
        while done >= next_mark:
            rates.append(block / (time_s - start_time))
            start_time, next_mark = time_s, next_mark + block
    return rates


def format_result(r: Result) -> str:
    """Return one line summing up ``r``."""
    return (f"  {r.case.name}: {r.events_per_s:,.0f} events/s in {r.seconds:.1f} s, p50 {_ms(r.p50_ms)} ms, "
            f"p99 {_ms(r.p99_ms)} ms, {r.recommendations:,} recommendations, ceiling "
            f"{r.ceiling_per_s:,.0f}/s, RSS {', '.join(f'{m:.0f}' for m in r.rss_mib)} MiB")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


async def run_case(case: Case, n_users: int, n_tracks: int) -> Result:
    """Start a broker and the case's workers, send the events, measure, stop everything."""
    root = Path(tempfile.mkdtemp(prefix="streamproc-bench-"))
    workers: list[WorkerProcess] = []
    try:
        with EmbeddedBroker(port=free_port()) as broker:
            app_id = f"bench-{uuid.uuid4().hex[:6]}"
            for i in range(case.workers):
                workers.append(WorkerProcess(broker.bootstrap, app_id, root / f"w{i}", free_port(),
                                             fetch_max_wait_ms=str(case.fetch_wait_ms),
                                             standby_replicas=str(case.standby_replicas), **case.overrides))
            for worker in workers:
                await asyncio.to_thread(worker.wait_ready)
            result = await _measure(case, broker.bootstrap, workers, n_users, n_tracks, broker.process.pid)
            # Topic names without the case's own app id, so that cases line up by topic.
            result.traffic = {topic.replace(app_id, "{app}"): v for topic, v in result.traffic.items()}
            return result
    finally:
        for worker in workers:
            worker.stop()
        shutil.rmtree(root, ignore_errors=True)


async def _measure(case: Case, bootstrap: str, workers: list[WorkerProcess], n_users: int,
                   n_tracks: int, broker_pid: int) -> Result:
    catalogue = generate_catalogue(n_tracks, seed=1)
    listeners = make_listeners(catalogue, n_users, seed=1)
    events = [(e.user_id.encode(), e.to_bytes())
              for e in simulate_listens(catalogue, listeners, case.events, seed=1, start=time.time())]
    await ensure_topics(bootstrap, [LISTENS, TRACKS, RECOMMENDATIONS], settings.topic_partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024,
                                max_request_size=MAX_REQUEST_BYTES, compression_type=settings.compression_type())
    await producer.start()
    reader = _Reader(bootstrap)
    await reader.start()
    try:
        for track in catalogue.tracks:
            await producer.send(TRACKS, track.to_bytes(), key=track.item_id.encode())
        await producer.flush()
        await _wait_until(lambda: split(workers) and all(_tracks(w) >= n_tracks for w in workers), 120,
                          "the workers did not take the catalogue")
        pids = {"workers": [w.process.pid for w in workers], "broker": [broker_pid], "client": [os.getpid()]}
        settled = await _settle(pids["workers"])
        print(f"  the workers were at rest after {settled:.0f} s", file=sys.stderr, flush=True)
        started = time.time()
        cpu_before = {name: sum(map(_cpu_seconds, group)) for name, group in pids.items()}
        reader.since = started
        progress = [(time.time(), 0)]
        sampler = asyncio.create_task(_sample(workers, progress))
        await _send(producer, events, case.rate)
        deadline = time.monotonic() + max(CASE_TIMEOUT_S, case.events / 100)
        while progress[-1][1] < case.events and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        sampler.cancel()
        await asyncio.sleep(DRAIN_S)
        reflected = await asyncio.to_thread(_processed, workers)
        worker_p50_ms = [(await asyncio.to_thread(_stats, w)).get("stream", {}).get("latency_ms", {}).get("p50")
                         for w in workers]
        end = reader.last_read or time.time()
        # Over the whole case, drain included: cores each group kept busy on average.
        worker_cpu_s = sum(map(_cpu_seconds, pids["workers"])) - cpu_before["workers"]
        cores = {name: (sum(map(_cpu_seconds, group)) - cpu_before[name]) / (time.time() - started)
                 for name, group in pids.items()}
    finally:
        await producer.stop()
        await reader.stop()
    rss = [_rss_mib(worker.process.pid) for worker in workers]
    latencies = np.array(reader.latencies) * 1000
    return Result(
        case=case,
        seconds=end - started,
        events_per_s=case.events / (end - started),
        p50_ms=float(np.percentile(latencies, 50)) if latencies.size else None,
        p99_ms=float(np.percentile(latencies, 99)) if latencies.size else None,
        recommendations=len(reader.latencies),
        ceiling_per_s=await consume_rate(bootstrap, LISTENS, case.events),
        rss_mib=rss,
        reflected=reflected,
        cores=cores,
        worker_cpu_s=worker_cpu_s,
        traffic=await broker_traffic(bootstrap),
        progress=progress,
        worker_p50_ms=worker_p50_ms,
    )


async def _settle(pids: list[int]) -> float:
    """Wait, up to ``SETTLE_TIMEOUT_S``, until the processes ``pids`` keep less than ``QUIET_CORES`` each busy
    over a second: what every worker does once at start (the catalogue's index, the first model, its
    lists) is then not counted as the events' CPU. Returns the seconds it waited."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_TIMEOUT_S:
        before = sum(map(_cpu_seconds, pids))
        await asyncio.sleep(1.0)
        if sum(map(_cpu_seconds, pids)) - before < QUIET_CORES * len(pids):
            break
    return time.monotonic() - started


async def _sample(workers: list[WorkerProcess], progress: list[tuple[float, int]]) -> None:
    """Append (time, events the workers applied) every ``PROGRESS_EVERY_S`` until cancelled."""
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        done = await asyncio.to_thread(_processed, workers)
        progress.append((time.time(), max(done, progress[-1][1])))


async def broker_traffic(bootstrap: str) -> dict[str, tuple[int, int]]:
    """Return topic → (messages, bytes of keys, values and headers) for every topic on the broker."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=READ_WAIT_MS, max_partition_fetch_bytes=MAX_REQUEST_BYTES)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for topic in await consumer.topics()
               for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning()
        traffic: dict[str, list[int]] = {}
        pending = set(tps)
        deadline = time.monotonic() + CASE_TIMEOUT_S
        while pending and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=50_000)
            for tp, records in batches.items():
                counts = traffic.setdefault(tp.topic, [0, 0])
                counts[0] += len(records)
                counts[1] += sum(len(r.key or b"") + len(r.value or b"")
                                 + sum(len(k) + len(v) for k, v in r.headers or ()) for r in records)
            for tp in list(pending):
                end = consumer.highwater(tp)
                if end is not None and await consumer.position(tp) >= end:
                    pending.discard(tp)
        return {topic: (messages, size) for topic, (messages, size) in traffic.items()}
    finally:
        await consumer.stop()


async def _send(producer: AIOKafkaProducer, events: list[tuple[bytes, bytes]], rate: float | None) -> None:
    if rate is None:
        await _send_backlog(producer, events)
        return
    started = time.monotonic()
    pending = []
    for sent, (key, value) in enumerate(events, 1):
        pending.append(await producer.send(LISTENS, value, key=key))
        if len(pending) >= 2000:
            await asyncio.gather(*pending)
            pending.clear()
        delay = started + sent / rate - time.monotonic()
        if delay > 0:
            await producer.flush()
            await asyncio.sleep(delay)
    await asyncio.gather(*pending)


async def _send_backlog(producer: AIOKafkaProducer, events: list[tuple[bytes, bytes]]) -> None:
    """Send ``events`` as fast as the broker takes them, in batches built per partition.

    A keyed send costs the client tens of µs of Python per event, so a backlog sent that way took
    as long as the CPU the workers left the bench: seconds more with four workers than with one. The
    events' produce times, and with them the stream time a worker coalesces lists by, then depended
    on the case. Built batches cost a few µs an event: the backlog is on the broker within about a
    second whatever the workers do.
    """
    partitions = sorted(await producer.partitions_for(LISTENS))
    partitioner = DefaultPartitioner()
    batches: dict[int, BatchBuilder] = {}
    pending = []
    for key, value in events:
        partition = partitioner(key, partitions, partitions)
        batch = batches.setdefault(partition, producer.create_batch())
        if batch.append(key=key, value=value, timestamp=None) is None:
            pending.append(await producer.send_batch(batch, LISTENS, partition=partition))
            batches[partition] = batch = producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)
    for partition, batch in batches.items():
        pending.append(await producer.send_batch(batch, LISTENS, partition=partition))
    await asyncio.gather(*pending)


class _Reader:
    """Reads ``recommendations`` from the end, timing each list that carries an event's produce time."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                         fetch_max_wait_ms=READ_WAIT_MS, max_partition_fetch_bytes=MAX_REQUEST_BYTES)
        self.latencies: list[float] = []
        self.since = float("inf")
        self.last_read: float | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.assign([TopicPartition(RECOMMENDATIONS, p) for p in range(settings.topic_partitions)])
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=1000, max_records=5000)
            now = time.time()
            for records in batches.values():
                for record in records:
                    if record.value is None:  # a forgotten user's tombstone
                        continue
                    produced = decode_object(record.value).get("event_ts")
                    if produced is not None and produced >= self.since:
                        self.latencies.append(now - produced)
                        self.last_read = now

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()


async def consume_rate(bootstrap: str, topic: str, expected: int) -> float:
    """Return messages a second of a plain aiokafka consumer reading ``topic`` from the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=READ_WAIT_MS, max_partition_fetch_bytes=MAX_REQUEST_BYTES)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(settings.topic_partitions)])
        await consumer.seek_to_beginning()
        read = 0
        started = time.perf_counter()
        deadline = time.monotonic() + 120
        while read < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            read += sum(len(records) for records in batches.values())
        return read / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def _stats(worker: WorkerProcess) -> dict:
    try:
        status, body = worker.get_json("/api/stats/", timeout=2.0)
    except OSError:
        return {}
    return body if status == 200 else {}


def _processed(workers: list[WorkerProcess]) -> int:
    return sum(_stats(w).get("stream", {}).get("events_total", 0) for w in workers)


def _tracks(worker: WorkerProcess) -> int:
    return _stats(worker).get("tracks", 0)


async def _wait_until(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise CommandError(message)
        await asyncio.sleep(0.5)


def _cpu_seconds(pid: int) -> float:
    """Return the user and system CPU seconds process ``pid`` has used (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
