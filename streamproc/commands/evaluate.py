"""``streamproc evaluate``: offline quality of implicit ALS on a play-count file, against popularity.

Every user with at least 5 interactions holds out ``floor(0.2 n)`` of them (see
``models.split`` for the exact draw); the model ranks every item with a training
interaction except the user's own, and the top 10 are scored against the held-out items.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

K = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser("evaluate", help="hold-out precision, recall, MAP and nDCG at 10 of ALS",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", required=True, metavar="PATH",
                        help="user_artists.dat (lastfm) or user<TAB>item<TAB>weight (tsv) file")
    parser.add_argument("--format", choices=("lastfm", "tsv"), default="lastfm")
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Split, fit, score; print the result and return 0."""
    import time

    import numpy as np

    from models.als import ImplicitALS
    from models.metrics import evaluate_ranking
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
    model = ImplicitALS(factors=args.factors, regularization=args.regularization, alpha=args.alpha,
                        iterations=args.iterations, confidence=args.confidence, solver=args.solver,
                        regularization_mode=args.regularization_mode, random_state=args.seed,
                        num_threads=args.threads)
    started = time.perf_counter()
    try:
        model.fit(train)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    fit_seconds = time.perf_counter() - started
    item_counts = np.diff(train.tocsc().indptr).astype(np.float64)
    result: dict[str, Any] = evaluate_ranking(lambda users: model.user_factors_[users] @ model.item_factors_.T,
                                              train, test, k=K)
    result["fit_seconds"] = round(fit_seconds, 3)
    result["popularity"] = evaluate_ranking(lambda users: np.tile(item_counts, (len(users), 1)), train, test, k=K)
    result["users"], result["items"] = int(train.shape[0]), int(train.shape[1])
    result["train"], result["test"] = int(train.nnz), int(test.nnz)
    print(json.dumps(result) if args.json else _table(result, model))
    return 0


def _table(result: dict[str, Any], model) -> str:
    """Return the result as a small aligned table with the split and model it describes."""
    names = [f"{metric}@{K}" for metric in ("precision", "recall", "map", "ndcg")]
    lines = [f"{result['users']} users, {result['items']} items, {result['train']} training and "
             f"{result['test']} held-out interactions",
             f"ALS: k={model.factors}, {model.iterations} iterations, lambda={model.regularization} "
             f"({model.regularization_mode}), alpha={model.alpha}, {model.confidence} confidence, {model.solver} solver",
             "",
             f"{'model':<12}" + "".join(f"{name:>14}" for name in names) + f"{'fit s':>10}",
             f"{'ALS':<12}" + "".join(f"{result[name]:>14.4f}" for name in names) + f"{result['fit_seconds']:>10.2f}",
             f"{'popularity':<12}" + "".join(f"{result['popularity'][name]:>14.4f}" for name in names) + f"{'-':>10}"]
    return "\n".join(lines)
