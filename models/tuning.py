"""Hyper-parameters chosen on a validation split carved from the training split; the test split scored once.

Protocol (``streamproc tune``): ``train, test = holdout_split(plays, seed=seed)``, the split of
``streamproc evaluate``; then ``fitting, validation = holdout_split(train, seed=seed + 1)``, the
same hold-out rule with another seed. :func:`search` sees only ``fitting`` and ``validation``:
a seeded random search of ``budget`` settings per model (the first being the model's
defaults), then up to ``budget`` steps of a local search from the best of them (each numeric
parameter halved or doubled, :func:`neighbourhood`), ranked by nDCG@10 on validation, then a blend of the best ALS with the best of each
item model (EASE or RP3beta), whose weight and normalisation are chosen on validation too. The
item models searched are the servable ones: sparse, at most ``neighbours`` weights per item
(EASE's ``B`` pruned per column), as the trainer publishes them with every model version. Only
then does :func:`tune` refit the winner on all of ``train`` and score ``test``, once.

>>> import scipy.sparse as sp
>>> plays = sp.csr_matrix(np.kron(np.eye(2), np.ones((8, 8))))
>>> train, test = holdout_split(plays, seed=0)
>>> tuned = tune(train, test, budget=1, seed=0, families=("ease", "rp3beta"))
>>> tuned.winner.family in ("ease", "rp3beta", "hybrid"), tuned.test["precision@10"] > 0
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from models.als import ImplicitALS
from models.ease import EASE
from models.metrics import evaluate_ranking
from models.ranking import NORMALISERS, blend_parts, normalise_rows
from models.rp3beta import RP3beta
from models.split import holdout_split

K = 10
METRIC = f"ndcg@{K}"
VALIDATION_SEED_OFFSET = 1
FAMILIES = ("als", "ease", "rp3beta")
ITEM_FAMILIES = ("ease", "rp3beta")
WEIGHTS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2).tolist())
ALS_ITERATIONS = 15
# The best settings of each item family that are blended with the best ALS.
BLEND_CANDIDATES = 2

Scorer = Callable[[np.ndarray], np.ndarray]


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _als_setting(rng: np.random.Generator) -> dict:
    """Return a random ALS setting; lambda's range follows the mode, alpha's the confidence.

    A linear confidence reads raw play counts (up to 350,000 on Last.fm 2k), so it wants a far
    smaller alpha than log1p.
    """
    mode, confidence = str(rng.choice(["weighted", "plain"])), str(rng.choice(["log1p", "linear"]))
    return {"factors": int(rng.choice([16, 32, 64, 128])),
            "regularization": _log_uniform(rng, *((0.005, 2.0) if mode == "weighted" else (0.05, 100.0))),
            "regularization_mode": mode,
            "alpha": _log_uniform(rng, *((0.1, 20.0) if confidence == "log1p" else (0.0005, 0.5))),
            "confidence": confidence}


# Weights kept per item by a servable item model: 200 of Last.fm 2k's items is a few MB per model version.
NEIGHBOURS = (50, 100, 200, 400)
SPACES: dict[str, Callable[[np.random.Generator], dict]] = {
    "als": _als_setting,
    "ease": lambda rng: {"regularization": _log_uniform(rng, 10.0, 3000.0),
                         "neighbours": int(rng.choice(NEIGHBOURS))},
    "rp3beta": lambda rng: {"alpha": float(rng.uniform(0.3, 1.5)), "beta": float(rng.uniform(0.0, 0.6)),
                            "neighbours": int(rng.choice(NEIGHBOURS))},
}
SEARCHED = {family: tuple(space(np.random.default_rng(0))) for family, space in SPACES.items()}


def _scaled(low: float, high: float, kind: type = float) -> Callable[[float], list]:
    return lambda value: [kind(x) for x in (value / 2, value * 2) if low <= x <= high]


def _shifted(step: float, low: float, high: float) -> Callable[[float], list]:
    return lambda value: [round(x, 4) for x in (value - step, value + step) if low <= x <= high]


# One step of the local search, per family and parameter: the values next to the current one.
MOVES: dict[str, dict[str, Callable[[float], list]]] = {
    "als": {"regularization": _scaled(1e-4, 1e3), "alpha": _scaled(1e-4, 1e2), "factors": _scaled(16, 128, int)},
    "ease": {"regularization": _scaled(1.0, 1e5), "neighbours": _scaled(min(NEIGHBOURS), max(NEIGHBOURS), int)},
    "rp3beta": {"alpha": _shifted(0.1, 0.1, 2.0), "beta": _shifted(0.1, 0.0, 1.0),
                "neighbours": _scaled(min(NEIGHBOURS), max(NEIGHBOURS), int)},
}
# The first setting tried per family: its defaults, EASE made servable (sparse) as the workers need it.
FIRST = {"als": {}, "ease": {"neighbours": 200}, "rp3beta": {}}


@dataclass(frozen=True)
class Trial:
    """One setting of one model family and its metrics at ``K`` on the split it was scored on.

    A hybrid's ``params`` are ``{"als": ..., "item": family, family: ..., "weight", "normalise"}``.
    """

    family: str
    params: dict
    metrics: dict[str, float]

    @property
    def score(self) -> float:
        return self.metrics[METRIC]


@dataclass(frozen=True)
class Search:
    """What :func:`search` found: every trial, the best per family and the best of all (ties to the simpler)."""

    trials: list[Trial]
    best: dict[str, Trial]
    winner: Trial


@dataclass(frozen=True)
class Tuned:
    """What :func:`tune` returns: the search, the winner and its test metrics after refitting on all of train."""

    search: Search
    test: dict[str, float]
    sizes: dict[str, int]

    @property
    def winner(self) -> Trial:
        return self.search.winner


def neighbourhood(family: str, params: dict) -> list[dict]:
    """Return the settings one step from ``params``: each parameter of :data:`MOVES` moved alone, in that order.

    >>> neighbourhood("ease", {"regularization": 100.0, "neighbours": 200})  # doctest: +NORMALIZE_WHITESPACE
    [{'regularization': 50.0, 'neighbours': 200}, {'regularization': 200.0, 'neighbours': 200},
     {'regularization': 100.0, 'neighbours': 100}, {'regularization': 100.0, 'neighbours': 400}]
    """
    return [{**params, name: value} for name, move in MOVES[family].items() for value in move(params[name])]


def build(family: str, params: dict, seed: int = 0, threads: int | None = None):
    """Return an unfitted model of ``family`` ("als", "ease" or "rp3beta") with ``params``.

    >>> build("ease", {"regularization": 50.0}).regularization
    50.0
    """
    if family == "als":
        return ImplicitALS(**{"iterations": ALS_ITERATIONS, **params}, random_state=seed, num_threads=threads)
    if family == "ease":
        return EASE(**params, num_threads=threads)
    if family == "rp3beta":
        return RP3beta(**params)
    raise ValueError(f"family must be one of {FAMILIES} or 'hybrid', got {family!r}")


def scorer(model, train: sp.csr_matrix) -> Scorer:
    """Return ``score_users(users) -> (len(users), n_items)`` of a fitted model, for :func:`evaluate_ranking`.

    ALS scores its trained users' factors; an item model scores their rows of ``train``.
    """
    if isinstance(model, ImplicitALS):
        return lambda users: model.user_factors_[users] @ model.item_factors_.T
    return lambda users: model.score_histories(train[users])


def hybrid_scorer(als: Scorer, item: Scorer, weight: float, normalise: str) -> Scorer:
    """Return the scorer of ``weight * als + (1 - weight) * item``, each row normalised first
    (:func:`~models.ranking.blend_parts`, what the workers serve).

    >>> als, item = (lambda u: np.array([[0.0, 2.0, 1.0]])), (lambda u: np.array([[9.0, 0.0, 3.0]]))
    >>> score = hybrid_scorer(als, item, 0.75, "rank")
    >>> score(np.array([0])).tolist()
    [[0.25, 0.75, 0.5]]
    """
    return lambda users: sum(blend_parts(als(users), item(users), weight, normalise))


def choose_blend(als: Scorer, item: Scorer, train: sp.csr_matrix, validation: sp.csr_matrix,
                 weights: Sequence[float] = WEIGHTS, normalisers: Sequence[str] = NORMALISERS
                 ) -> tuple[float, str, dict[str, float]]:
    """Return the (weight, normalisation, validation metrics) of the best blend of two scorers on ``validation``.

    Each scorer's rows of the validation users are computed and normalised once; the blends
    are then only weighted sums of them. Ties go to the first weight tried.
    """
    users = np.flatnonzero(np.diff(sp.csr_matrix(validation).indptr) > 0)
    row_of = np.full(validation.shape[0], -1, dtype=np.int64)
    row_of[users] = np.arange(users.size)
    raw = (als(users), item(users))
    best: tuple[float, str, dict[str, float]] | None = None
    for normalise in normalisers:
        a, b = (normalise_rows(scores, normalise) for scores in raw)
        for weight in weights:
            metrics = evaluate_ranking(lambda rows: weight * a[row_of[rows]] + (1.0 - weight) * b[row_of[rows]],
                                       train, validation, k=K)
            if best is None or metrics[METRIC] > best[2][METRIC]:
                best = (float(weight), normalise, metrics)
    assert best is not None, "choose_blend needs at least one weight and one normalisation"
    return best


def search(fitting: sp.csr_matrix, validation: sp.csr_matrix, budget: int = 10, seed: int = 0,
           threads: int | None = None, families: Sequence[str] = FAMILIES,
           progress: Callable[[Trial], None] | None = None) -> Search:
    """Return the settings of ``families`` that rank ``validation`` best after fitting ``fitting``.

    ``budget`` settings per family: :data:`FIRST`, then ``budget - 1`` drawn from :data:`SPACES`
    by ``numpy.random.default_rng(seed)``; then up to ``budget`` more, each the first untried
    setting of the :func:`neighbourhood` of the family's best so far; with ALS and item models, the best ALS
    blended with each of the :data:`BLEND_CANDIDATES` best settings of each item family (the best
    item model alone is not always the best partner: on Last.fm 2k a sparser EASE blended better),
    the best blend being ``best["hybrid"]``.
    Each trial records the values of the parameters searched (:data:`SEARCHED`), defaults included.
    ``progress`` is called with each trial once scored.
    """
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    unknown = set(families) - set(FAMILIES)
    if unknown or not families:
        raise ValueError(f"families must be some of {FAMILIES}, got {tuple(families)}")
    rng = np.random.default_rng(seed)
    trials: list[Trial] = []
    best: dict[str, Trial] = {}
    leaders: dict[str, list[tuple[Trial, Scorer]]] = {}

    def attempt(family: str, params: dict) -> None:
        model = build(family, params, seed, threads)
        params = {name: getattr(model, name) for name in SEARCHED[family]}
        model.fit(fitting)
        score_users = scorer(model, fitting)
        trial = Trial(family, params, evaluate_ranking(score_users, fitting, validation, k=K))
        trials.append(trial)
        if progress:
            progress(trial)
        ranked = leaders.setdefault(family, [])
        ranked.append((trial, score_users))
        ranked.sort(key=lambda pair: -pair[0].score)   # stable: the first of equals stays first
        del ranked[BLEND_CANDIDATES:]
        best[family] = ranked[0][0]

    for family in families:
        for draw in range(budget):
            attempt(family, SPACES[family](rng) if draw else FIRST[family])
        for _ in range(budget):
            tried = [trial.params for trial in trials if trial.family == family]
            untried = [params for params in neighbourhood(family, best[family].params) if params not in tried]
            if not untried:
                break
            attempt(family, untried[0])
    partners = [pair for family in ITEM_FAMILIES for pair in leaders.get(family, [])] if "als" in best else []
    for item_trial, item_scorer in partners:
        weight, normalise, metrics = choose_blend(leaders["als"][0][1], item_scorer, fitting, validation)
        item = item_trial.family
        trial = Trial("hybrid", {"als": best["als"].params, "item": item, item: item_trial.params,
                                 "weight": weight, "normalise": normalise}, metrics)
        trials.append(trial)
        if progress:
            progress(trial)
        if "hybrid" not in best or trial.score > best["hybrid"].score:
            best["hybrid"] = trial
    winner = max(best.values(), key=lambda trial: trial.score)   # max keeps the first of equals: hybrid last
    return Search(trials, best, winner)


def fit_scorer(family: str, params: dict, train: sp.csr_matrix, seed: int = 0, threads: int | None = None) -> Scorer:
    """Return the scorer of ``family`` with ``params`` (as in a :class:`Trial`) fitted on ``train``.

    A hybrid fits both its models.
    """
    if family != "hybrid":
        return scorer(build(family, params, seed, threads).fit(train), train)
    als = scorer(build("als", params["als"], seed, threads).fit(train), train)
    item = scorer(build(params["item"], params[params["item"]], seed, threads).fit(train), train)
    return hybrid_scorer(als, item, params["weight"], params["normalise"])


def tune(train: sp.csr_matrix, test, budget: int = 10, seed: int = 0, threads: int | None = None,
         families: Sequence[str] = FAMILIES, progress: Callable[[Trial], None] | None = None) -> Tuned:
    """Carve validation from ``train``, :func:`search` on it, refit the winner on ``train`` and score ``test`` once.

    ``test`` is read only by that last call of :func:`evaluate_ranking`.
    """
    fitting, validation = holdout_split(train, seed=seed + VALIDATION_SEED_OFFSET)
    if validation.nnz == 0:
        raise ValueError("no training user has 5 or more interactions to hold out for validation")
    found = search(fitting, validation, budget, seed, threads, families, progress)
    score_users = fit_scorer(found.winner.family, found.winner.params, train, seed, threads)
    sizes = {"users": int(train.shape[0]), "items": int(train.shape[1]), "fitting": int(fitting.nnz),
             "validation": int(validation.nnz), "train": int(train.nnz)}
    test_metrics = evaluate_ranking(score_users, train, test, k=K)
    sizes["test"] = int(sp.csr_matrix(test).nnz)
    return Tuned(found, test_metrics, sizes)
