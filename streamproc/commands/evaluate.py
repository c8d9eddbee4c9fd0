"""``streamproc evaluate``: offline quality of ALS, EASE, RP3beta or a hybrid on a play-count file, against popularity.

Every user with at least 5 interactions holds out ``floor(0.2 n)`` of them (see
``models.split`` for the exact draw); the model ranks every item with a training
interaction except the user's own, and the top 10 are scored against the held-out items.
``--model ease`` and ``rp3beta`` run those item models with their defaults; ``hybrid`` blends
ALS (weight ``--weight``) with EASE, each user's scores normalised (``--normalise``) first.
``--stream`` replays a timeline instead (:mod:`streamproc.commands.evaluate_stream`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from streamproc.commands import evaluate_stream

K = 10
MODELS = ("als", "ease", "rp3beta", "hybrid")
NAMES = {"als": "ALS", "ease": "EASE", "rp3beta": "RP3beta", "hybrid": "hybrid"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser("evaluate", description=__doc__.splitlines()[0],
                                   help="hold-out precision, recall, MAP and nDCG at 10 of ALS, EASE, RP3beta, hybrid")
    add_split_options(parser)
    parser.add_argument("--model", choices=MODELS, default="als", help="what ranks (default: als)")
    parser.add_argument("--weight", type=float, default=0.6,
                        help="ALS's share of a hybrid's score, in [0, 1] (default: 0.6, as tuned on Last.fm 2k)")
    parser.add_argument("--normalise", choices=("minmax", "rank"), default="minmax",
                        help="how a hybrid scales each model's scores before blending")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--regularization", type=float, default=0.05)
    parser.add_argument("--regularization-mode", choices=("plain", "weighted"), default="weighted")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--confidence", choices=("log1p", "linear"), default="log1p")
    parser.add_argument("--solver", choices=("cg", "exact"), default="cg")
    parser.add_argument("--seed", type=int, default=42, help="seeds the split and the factors")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate_stream.add_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Split, fit, score (or, with ``--stream``, replay); print the result and return 0."""
    if args.stream:
        return evaluate_stream.run(args)
    import time

    import numpy as np

    from models.metrics import evaluate_ranking
    from models.tuning import fit_scorer
    from streamproc.errors import CommandError

    if not 0.0 <= args.weight <= 1.0:
        raise CommandError(f"--weight must be in [0, 1], got {args.weight}")
    train, test = read_split(args)
    als = dict(factors=args.factors, regularization=args.regularization, alpha=args.alpha,
               iterations=args.iterations, confidence=args.confidence, solver=args.solver,
               regularization_mode=args.regularization_mode)
    params = {"als": als, "ease": {}, "rp3beta": {},
              "hybrid": {"als": als, "item": "ease", "ease": {}, "weight": args.weight, "normalise": args.normalise}}
    started = time.perf_counter()
    try:
        score_users = fit_scorer(args.model, params[args.model], train, seed=args.seed, threads=args.threads)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    fit_seconds = time.perf_counter() - started
    item_counts = np.diff(train.tocsc().indptr).astype(np.float64)
    result: dict[str, Any] = evaluate_ranking(score_users, train, test, k=K)
    result["model"] = args.model
    result["fit_seconds"] = round(fit_seconds, 3)
    result["popularity"] = evaluate_ranking(lambda users: np.tile(item_counts, (len(users), 1)), train, test, k=K)
    result["users"], result["items"] = int(train.shape[0]), int(train.shape[1])
    result["train"], result["test"] = int(train.nnz), int(test.nnz)
    print(json.dumps(result) if args.json else _table(result, args))
    return 0


def add_split_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--interactions`` and ``--format``, which :func:`read_split` reads (with ``--seed``)."""
    parser.add_argument("--interactions", required=True, metavar="PATH",
                        help="user_artists.dat (lastfm) or user<TAB>item<TAB>weight (tsv) file; "
                        "with --stream, user<TAB>item<TAB>weight<TAB>timestamp")
    parser.add_argument("--format", choices=("lastfm", "tsv"), default="lastfm")


def read_split(args: argparse.Namespace):
    """Return the (train, test) hold-out split of ``args.interactions``, or raise CommandError in one line."""
    from models.split import holdout_split, read_interactions
    from streamproc.errors import CommandError

    try:
        data = read_interactions(args.interactions, args.format)
    except ValueError as exc:
        message = str(exc) if str(args.interactions) in str(exc) else f"{args.interactions}: {exc}"
        raise CommandError(f"not a {args.format} interactions file: {message}") from exc
    train, test = holdout_split(data.matrix, seed=args.seed)
    if test.nnz == 0:
        raise CommandError(f"{args.interactions}: no user has 5 or more interactions to hold out")
    return train, test


def _describe(args: argparse.Namespace) -> list[str]:
    """Return the lines describing the model evaluated."""
    from models.ease import EASE
    from models.rp3beta import RP3beta

    als = (f"ALS: k={args.factors}, {args.iterations} iterations, lambda={args.regularization} "
           f"({args.regularization_mode}), alpha={args.alpha}, {args.confidence} confidence, {args.solver} solver")
    ease = EASE()
    ease_line = f"EASE: lambda={ease.regularization}, min_count={ease.min_count}"
    rp3beta = RP3beta()
    return {"als": [als], "ease": [ease_line],
            "rp3beta": [f"RP3beta: alpha={rp3beta.alpha}, beta={rp3beta.beta}, {rp3beta.neighbours} neighbours, "
                        f"min_count={rp3beta.min_count}"],
            "hybrid": [f"hybrid: {args.weight} x ALS + {1 - args.weight:g} x EASE, {args.normalise}-normalised",
                       als, ease_line]}[args.model]


def _table(result: dict[str, Any], args: argparse.Namespace) -> str:
    """Return the result as a small aligned table with the split and model it describes."""
    names = [f"{metric}@{K}" for metric in ("precision", "recall", "map", "ndcg")]
    lines = [f"{result['users']} users, {result['items']} items, {result['train']} training and "
             f"{result['test']} held-out interactions",
             *_describe(args),
             "",
             f"{'model':<12}" + "".join(f"{name:>14}" for name in names) + f"{'fit s':>10}",
             f"{NAMES[args.model]:<12}" + "".join(f"{result[name]:>14.4f}" for name in names)
             + f"{result['fit_seconds']:>10.2f}",
             f"{'popularity':<12}" + "".join(f"{result['popularity'][name]:>14.4f}" for name in names) + f"{'-':>10}"]
    return "\n".join(lines)
