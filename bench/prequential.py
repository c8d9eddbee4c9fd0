"""Does the live recommender beat a weekly batch one? The prequential hit rate@10 on drifting simulated listeners.

Run ``python -m bench.prequential [--write]``. The simulator's drifting listeners (1,000 users,
2,000 tracks, 100,000 events over 8 weeks, seed 1; :func:`streamproc.simulator.simulate_drifting_listens`)
are replayed by :func:`streamproc.recommend.prequential.evaluate_stream` with the catalogue (so
content and exploration run as on a worker) and the default settings, but a daily retraining
(``retrain_seconds`` = 86400 of event time). The same run scores the ``weekly`` and ``popularity``
baselines on the same events, and ours again with exploration by the bandit
(:mod:`streamproc.recommend.bandit`) instead of uniformly at random. Two more runs say where the
gap comes from: ours retrained only weekly (the fold-in alone), and the same listeners without drift.
Two more give the main case at the ends of ``STREAMPROC_SKIP_PENALTY`` (default 0.5): 1, a skipped
item never again (as before the setting), and 0, a skip changes no list. These listeners never see
their lists, so a skipped item that comes back can only take a place (it is never a judged event).
The time is that of one whole evaluation (both exploration policies included).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import time
from typing import Any

import numpy as np

from bench.results import markdown_table, write_section
from models.split import Timeline
from streamproc.commands.evaluate_stream import relative_gap
from streamproc.recommend.prequential import WEEK_S, evaluate_stream
from streamproc.settings import Settings
from streamproc.simulator import DRIFT_P, generate_catalogue, make_listeners, simulate_drifting_listens

USERS, TRACKS, EVENTS, WEEKS, SEED = 1000, 2000, 100_000, 8, 1
DAY_S = 86_400.0


def timeline(n_events: int, drift: float) -> tuple[Timeline, list]:
    """Return the drifting simulator's events as a timeline (weights as the workers count them) and its tracks."""
    catalogue = generate_catalogue(TRACKS, SEED)
    listeners = make_listeners(catalogue, USERS, SEED)
    weights = Settings().event_weights()
    events = list(simulate_drifting_listens(catalogue, listeners, n_events, WEEKS, SEED, drift=drift))
    return Timeline(np.array([e.user_id for e in events], dtype=object), np.array([e.item_id for e in events], dtype=object),
                    np.array([weights[e.event] * e.count for e in events]), np.array([e.ts for e in events])), \
        catalogue.tracks


def run(name: str, settings: Settings, n_events: int, drift: float) -> dict[str, Any]:
    """Return the evaluation of one case, with its name and wall time."""
    events, tracks = timeline(n_events, drift)
    started = time.perf_counter()
    result = evaluate_stream(events, settings, tracks)
    result.update(case=name, seconds=time.perf_counter() - started)
    print(f"{name}: ours {result['hit_rate@10']:.4f}, weekly {result['baselines']['weekly']['hit_rate@10']:.4f}, "
          f"popularity {result['baselines']['popularity']['hit_rate@10']:.4f}, {result['seconds']:.1f} s", flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--write", action="store_true", help="write the section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    daily = Settings(retrain_seconds=DAY_S)
    cases = [run("daily retraining + fold-in", daily, args.events, DRIFT_P),
             run("weekly retraining + fold-in", dataclasses.replace(daily, retrain_seconds=WEEK_S,
                                                                    retrain_events=10**9), args.events, DRIFT_P),
             run("daily retraining + fold-in, no drift", daily, args.events, 0.0),
             run("daily retraining + fold-in, skip penalty 1 (never again)",
                 dataclasses.replace(daily, skip_penalty=1.0), args.events, DRIFT_P),
             run("daily retraining + fold-in, skip penalty 0", dataclasses.replace(daily, skip_penalty=0.0),
                 args.events, DRIFT_P)]
    body = body_of(cases, args.events)
    print(body)
    if args.write:
        write_section("prequential", "Prequential hit rate: live against weekly lists (drifting listeners)", body,
                      f"python -m bench.prequential --write{'' if args.events == EVENTS else f' --events {args.events}'}")


def body_of(cases: list[dict[str, Any]], n_events: int) -> str:
    """Return the benchmark's tables: every case overall, then the main case week by week."""
    main_case = cases[0]
    rows = []
    for case in cases:
        weekly = case["baselines"]["weekly"]["hit_rate@10"]
        popular = case["baselines"]["popularity"]["hit_rate@10"]
        rows.append([case["case"], f"{case['hit_rate@10']:.4f}", f"{weekly:.4f}", f"{popular:.4f}",
                     relative_gap(case["hit_rate@10"], weekly), relative_gap(case["hit_rate@10"], popular),
                     f"{case['ndcg@10']:.4f}", f"{case['baselines']['weekly']['ndcg@10']:.4f}",
                     case["retrainings"], f"{case['seconds']:.1f}"])
    weeks = []
    for week in main_case["weeks"]:
        weekly = week["baselines"]["weekly"]["hit_rate@10"]
        popular = week["baselines"]["popularity"]["hit_rate@10"]
        start = dt.datetime.fromtimestamp(week["start"], dt.timezone.utc).strftime("%Y-%m-%d")
        weeks.append([week["week"], start, f"{week['events']:,}", f"{week['hit_rate@10']:.4f}", f"{weekly:.4f}",
                      f"{popular:.4f}", f"{week['hit_rate@10'] - weekly:+.4f}", relative_gap(week["hit_rate@10"], weekly)])
    return (f"{USERS:,} drifting listeners, {TRACKS:,} tracks, {n_events:,} events over {WEEKS} weeks (seed {SEED}); "
            f"the first {main_case['warmup_events']:,} warm up, {main_case['events']:,} are judged (positive events "
            f"on items new to the user). Default settings (k=64, exploration 0.1, skip penalty 0.5) but the "
            f"retraining schedule, in event time. Time: the whole evaluation of the {n_events:,} events, on this "
            f"machine.\n\n"
            + markdown_table(["case", "ours hit@10", "weekly", "popularity", "vs weekly", "vs popularity",
                              "ours nDCG@10", "weekly nDCG@10", "retrainings", "seconds"], rows)
            + "\n\nWeek by week, daily retraining + fold-in against weekly lists:\n\n"
            + markdown_table(["week", "from", "judged events", "ours", "weekly", "popularity", "gap", "gap %"], weeks)
            + "\n\nExploration (10 % of each list) by Thompson sampling over clusters against uniformly at random, "
              "in the same run: hit rate, and how many exploration picks the listeners then played or skipped "
              "(what the bandit learns from):\n\n"
            + markdown_table(["exploration", "hit@10", "nDCG@10", "picks played", "picks skipped"],
                             [[policy, f"{e['hit_rate@10']:.4f}", f"{e['ndcg@10']:.4f}", e["explored_played"],
                               e["explored_skipped"]] for policy, e in main_case["exploration"].items()]))


if __name__ == "__main__":
    main()
