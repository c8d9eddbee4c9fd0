"""``streamproc tune``: hyper-parameters of ALS, EASE, RP3beta and their blend, chosen on validation, tested once.

The test split is ``streamproc evaluate``'s (``--seed``); a validation split is carved from its
training part by the same rule with the next seed. A seeded random search of ``--budget``
settings per model (the defaults first) is ranked by nDCG@10 on validation, then the weight of
ALS in a blend with the better item model; the winner is refit on the whole training split and
scored on the test split, once (see ``models.tuning``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from streamproc.commands.evaluate import add_split_options
from streamproc.commands.options import positive


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tune`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser("tune", description=__doc__.splitlines()[0],
                                   help="random search of ALS, EASE, RP3beta and a hybrid on a validation split")
    add_split_options(parser)
    parser.add_argument("--budget", type=positive(int), default=10, metavar="N",
                        help="settings tried per model, its defaults included (default: 10)")
    parser.add_argument("--seed", type=int, default=42, help="seeds the splits, the search and the factors")
    parser.add_argument("--threads", type=positive(int), default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Split, search, refit, test; print the result and return 0."""
    import sys
    import time

    from models.tuning import tune
    from streamproc.commands.evaluate import read_split
    from streamproc.errors import CommandError

    train, test = read_split(args)
    started = time.perf_counter()

    def progress(trial) -> None:
        if not args.json:
            print(f"{time.perf_counter() - started:7.1f} s  {trial.family:<8} {_setting(trial)}  "
                  f"validation nDCG@10 {trial.score:.4f}", file=sys.stderr, flush=True)

    try:
        tuned = tune(train, test, budget=args.budget, seed=args.seed, threads=args.threads, progress=progress)
    except ValueError as exc:
        raise CommandError(f"{args.interactions}: {exc}") from exc
    result: dict[str, Any] = {
        "sizes": tuned.sizes, "budget": args.budget, "seed": args.seed,
        "seconds": round(time.perf_counter() - started, 1),
        "best": {family: {"params": trial.params, "validation": trial.metrics}
                 for family, trial in tuned.search.best.items()},
        "winner": {"family": tuned.winner.family, "params": tuned.winner.params,
                   "validation": tuned.winner.metrics, "test": tuned.test},
        "trials": [{"family": trial.family, "params": trial.params, "validation": trial.metrics}
                   for trial in tuned.search.trials],
    }
    print(json.dumps(result) if args.json else _table(result, tuned))
    return 0


def _setting(trial) -> str:
    """Return a trial's parameters as ``name=value`` pairs; a hybrid's as its blend."""
    params = trial.params
    if trial.family == "hybrid":
        return (f"{params['weight']:g} x ALS + {1 - params['weight']:g} x {params['item']} "
                f"({params['normalise']}-normalised)")
    return ", ".join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in params.items())


def _table(result: dict[str, Any], tuned) -> str:
    """Return the best setting per model on validation, and the winner on validation and test."""
    sizes = result["sizes"]
    lines = [f"{sizes['users']} users, {sizes['items']} items; {sizes['fitting']} fitting + "
             f"{sizes['validation']} validation = {sizes['train']} training, {sizes['test']} test interactions; "
             f"{result['budget']} settings a model, seed {result['seed']}, {result['seconds']} s",
             "",
             f"{'model':<9}{'validation P@10':>17}{'nDCG@10':>10}  best setting"]
    for family, trial in tuned.search.best.items():
        lines.append(f"{family:<9}{trial.metrics['precision@10']:>17.4f}{trial.score:>10.4f}  {_setting(trial)}")
    winner = tuned.winner
    lines += ["",
              f"best: {winner.family} ({_setting(winner)})",
              f"  validation  P@10 {winner.metrics['precision@10']:.4f}  nDCG@10 {winner.metrics['ndcg@10']:.4f}",
              f"  test        P@10 {tuned.test['precision@10']:.4f}  nDCG@10 {tuned.test['ndcg@10']:.4f}"
              f"  (refit on the training split, scored once)"]
    return "\n".join(lines)
