"""``streamproc evaluate``: offline quality of what the workers serve, or of ALS, EASE, RP3beta or a hybrid alone.

Every user with at least 5 interactions holds out ``floor(0.2 n)`` of them (see
``models.split`` for the exact draw); the model ranks every item with a training
interaction except the user's own, and the top 10 are scored against the held-out items.
By default (``--model served``) the trainer trains on the training split and the recommender
scores each user folded in, as the workers do with these settings (``STREAMPROC_*``, the ALS
options below override them). ``--model als`` scores the ALS's trained user factors;
``ease`` and ``rp3beta`` run those item models with their defaults; ``hybrid`` blends ALS
(weight ``--weight``) with the served item model (``STREAMPROC_ITEM_MODEL``, sparse), each
user's scores normalised (``--normalise``) first.
``--stream`` replays a timeline instead (:mod:`streamproc.commands.evaluate_stream`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from streamproc.commands import evaluate_stream
from streamproc.settings import settings

K = 10
MODELS = ("served", "als", "ease", "rp3beta", "hybrid")
NAMES = {"served": "served", "als": "ALS", "ease": "EASE", "rp3beta": "RP3beta", "hybrid": "hybrid"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser("evaluate", description=__doc__.splitlines()[0],
                                   help="hold-out precision, recall, MAP and nDCG at 10 of ALS, EASE, RP3beta, hybrid")
    add_split_options(parser)
    parser.add_argument("--model", choices=MODELS, default="served",
                        help="what ranks (default: served, what the workers serve with these settings)")
    parser.add_argument("--weight", type=float, default=settings.hybrid_weight,
                        help="ALS's share of a hybrid's score, in [0, 1] (default: STREAMPROC_HYBRID_WEIGHT, "
                        f"{settings.hybrid_weight})")
    parser.add_argument("--normalise", choices=("minmax", "rank"), default=settings.hybrid_normalise,
                        help="how a hybrid scales each model's scores before blending (default: "
                        "STREAMPROC_HYBRID_NORMALISE)")
    parser.add_argument("--factors", type=int, default=settings.als_factors)
    parser.add_argument("--iterations", type=int, default=settings.als_iterations)
    parser.add_argument("--regularization", type=float, default=settings.als_regularization)
    parser.add_argument("--regularization-mode", choices=("plain", "weighted"),
                        default=settings.als_regularization_mode)
    parser.add_argument("--alpha", type=float, default=settings.als_alpha)
    parser.add_argument("--confidence", choices=("log1p", "linear"), default=settings.als_confidence)
    parser.add_argument("--solver", choices=("cg", "exact"), default=settings.als_solver)
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
    from streamproc.recommend.served import served_scorer

    als = dict(factors=args.factors, regularization=args.regularization, alpha=args.alpha,
               iterations=args.iterations, confidence=args.confidence, solver=args.solver,
               regularization_mode=args.regularization_mode)
    item, item_params = _item_model(args)
    params = {"als": als, "ease": {}, "rp3beta": {},
              "hybrid": {"als": als, "item": item, item: item_params, "weight": args.weight,
                         "normalise": args.normalise}}
    started = time.perf_counter()
    try:
        score_users = (served_scorer(train, _served_settings(args), seed=args.seed) if args.model == "served" else
                       fit_scorer(args.model, params[args.model], train, seed=args.seed, threads=args.threads))
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


def _served_settings(args: argparse.Namespace):
    """Return the settings the workers would run with, the ALS and blend options of ``args`` applied."""
    import dataclasses

    return dataclasses.replace(
        settings, als_factors=args.factors, als_iterations=args.iterations, als_regularization=args.regularization,
        als_regularization_mode=args.regularization_mode, als_alpha=args.alpha, als_confidence=args.confidence,
        als_solver=args.solver, als_threads=args.threads, hybrid_weight=args.weight, hybrid_normalise=args.normalise,
        min_train_users=1)


def _item_model(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """Return the family and parameters of the item model the workers serve (``STREAMPROC_ITEM_MODEL``; EASE when none)."""
    if settings.item_model == "rp3beta":
        return "rp3beta", {"alpha": settings.rp3beta_alpha, "beta": settings.rp3beta_beta,
                           "neighbours": settings.item_neighbours}
    return "ease", {"regularization": settings.ease_regularization, "neighbours": settings.item_neighbours}


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
    family, params = _item_model(args)
    name = {"ease": "EASE", "rp3beta": "RP3beta"}[family]
    model = (EASE if family == "ease" else RP3beta)(**params)
    served_item = (f"EASE: lambda={model.regularization}, min_count={model.min_count}, "
                   f"{model.neighbours} weights a column" if family == "ease" else
                   f"RP3beta: alpha={model.alpha}, beta={model.beta}, {model.neighbours} neighbours")
    ease, rp3beta = EASE(), RP3beta()
    hybrid = [f"hybrid: {args.weight} x ALS + {1 - args.weight:g} x {name}, {args.normalise}-normalised",
              als, served_item]
    served = hybrid if settings.serves_item_model() and args.weight < 1.0 else [als]
    return {"served": ["served by the workers: " + served[0]] + served[1:], "als": [als],
            "ease": [f"EASE: lambda={ease.regularization}, min_count={ease.min_count}"],
            "rp3beta": [f"RP3beta: alpha={rp3beta.alpha}, beta={rp3beta.beta}, {rp3beta.neighbours} neighbours, "
                        f"min_count={rp3beta.min_count}"],
            "hybrid": hybrid}[args.model]


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
