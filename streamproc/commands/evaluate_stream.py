"""``streamproc evaluate --stream``: the prequential hit rate and nDCG at 10 of the live recommender
on a timeline, against a weekly batch system and popularity (see :mod:`streamproc.recommend.prequential`).

The timeline is ``user<TAB>item<TAB>weight<TAB>timestamp`` (unix seconds, optional header), as
``streamproc replay simulate --weeks W --tsv FILE`` writes it. Retraining follows
``STREAMPROC_RETRAIN_EVENTS`` (no sooner than ``STREAMPROC_RETRAIN_MIN_SECONDS``) and
``STREAMPROC_RETRAIN_SECONDS``, counted in event time: on a
timeline of weeks, the default 60 s retrains after nearly every event, so set it (say, 86400) to the
schedule to judge.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from streamproc.errors import CommandError


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--stream`` and ``--catalog`` to the ``evaluate`` parser."""
    parser.add_argument("--stream", action="store_true",
                        help="replay a user, item, weight, timestamp file in time order (prequential)")
    parser.add_argument("--catalog", metavar="FILE.csv",
                        help="with --stream: an Exportify CSV of the items, for content and exploration")


def run(args: argparse.Namespace) -> int:
    """Read the timeline, replay it, print the result; return 0 (or raise CommandError in one line)."""
    import time

    from models.split import read_timeline
    from streamproc.recommend.prequential import evaluate_stream
    from streamproc.settings import settings
    from tables.exportify import read_tracks

    if args.format != "tsv":
        raise CommandError("--stream reads --format tsv (user, item, weight, timestamp): "
                           "Last.fm 2k has no listening timestamps")
    try:
        timeline = read_timeline(args.interactions)
    except ValueError as exc:
        raise CommandError(f"not a timeline of interactions: {exc}") from exc
    tracks = list(read_tracks(args.catalog)) if args.catalog else []
    started = time.perf_counter()
    try:
        result = evaluate_stream(timeline, settings, tracks)
    except ValueError as exc:
        raise CommandError(f"{args.interactions}: {exc}") from exc
    result["seconds"] = round(time.perf_counter() - started, 3)
    print(json.dumps(result) if args.json else table(result))
    return 0


def table(result: dict[str, Any]) -> str:
    """Return the overall figures and the per-week ones as aligned text."""
    k = next(key for key in result if key.startswith("hit_rate@")).split("@")[1]
    names = ["ours", *result["baselines"]]
    lines = [f"{result['events']:,} judged events after {result['warmup_events']:,} of warm-up, "
             f"{result['users']:,} users, {result['items']:,} items, {result['retrainings']} retrainings, "
             f"{result['seconds']:.1f} s",
             "",
             f"{'system':<12}{'hit_rate@' + k:>14}{'ndcg@' + k:>12}"]
    for name in names:
        figures = result if name == "ours" else result["baselines"][name]
        lines.append(f"{name:<12}{figures['hit_rate@' + k]:>14.4f}{figures['ndcg@' + k]:>12.4f}")
    lines += ["", f"{'week':<6}{'from':<12}{'events':>8}" + "".join(f"{name:>12}" for name in names)
              + f"{'vs weekly':>11}"]
    for week in result["weeks"]:
        rates = [week["hit_rate@" + k]] + [week["baselines"][name]["hit_rate@" + k] for name in names[1:]]
        start = dt.datetime.fromtimestamp(week["start"], dt.timezone.utc).strftime("%Y-%m-%d")
        lines.append(f"{week['week']:<6}{start:<12}{week['events']:>8,}" + "".join(f"{r:>12.4f}" for r in rates)
                     + f"{relative_gap(rates[0], week['baselines']['weekly']['hit_rate@' + k]):>11}")
    if result.get("exploration"):
        lines += ["", f"{'exploration':<12}{'hit_rate@' + k:>14}{'ndcg@' + k:>12}{'picks played':>14}{'skipped':>9}"]
        for policy, figures in result["exploration"].items():
            lines.append(f"{policy:<12}{figures['hit_rate@' + k]:>14.4f}{figures['ndcg@' + k]:>12.4f}"
                         f"{figures['explored_played']:>14}{figures['explored_skipped']:>9}")
    return "\n".join(lines)


def relative_gap(ours: float, baseline: float) -> str:
    """Return how far ``ours`` is above ``baseline``, in per cent of it ("n/a" over a zero baseline).

    >>> relative_gap(0.12, 0.1), relative_gap(0.1, 0.0)
    ('+20.0%', 'n/a')
    """
    return f"{100 * (ours / baseline - 1):+.1f}%" if baseline > 0 else "n/a"
