"""What the recommender adds to a ranked list: listener controls, explanations and exploration.

Plain functions over a :class:`~streamproc.recommend.recommender.Recommender` and plain data (no Kafka, no
Faust), so tests call them directly.

- :func:`filter_and_rerank` drops excluded artists, favours less popular items by the user's
  novelty weight, and keeps at most k items per artist.
- :func:`explain` says why each item is there: the user's played items that contributed most
  to its ALS score (Hu, Koren and Volinsky 2008, section 5), or, for a hybrid item, to the score
  of the part of the blend (ALS or the item model) it owes most, or the played item nearest to it
  in audio features, or popularity.
- :func:`explore` replaces a share (epsilon) of a list with items from audio-feature clusters
  the user never listens in, marked ``exploration``: uniformly at random, or in the clusters the
  recommender's bandit (Thompson sampling) finds pay; an item the user skipped is drawn the less
  often, the more they skipped it (:func:`streamproc.recommend.skips.survives`).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Protocol

import numpy as np

from models.clustering import ClusterModel
from models.explanations import top_contributions
from models.ranking import cap_per_artist, manhattan_scores, minmax
from streamproc.recommend.bandit import ClusterBandit
from streamproc.recommend.catalog import Catalog
from streamproc.recommend.factors import FactorModel, FoldedUsers
from streamproc.recommend.skips import survives
from streamproc.settings import Settings
from tables.control import Preferences
from tables.recommendation import RecommendedItem


class RecommenderView(Protocol):
    """What these functions read of the :class:`~streamproc.recommend.recommender.Recommender` they serve."""

    settings: Settings
    catalog: Catalog
    clusterer: ClusterModel
    factors: FactorModel | None
    bandit: ClusterBandit | None
    skip_penalty: float

    def item_users(self, item_id: str) -> int: ...

    def content_view(self) -> tuple[list[str], dict[str, int], np.ndarray, np.ndarray]: ...

EXPLAIN_ITEMS = 3
# Random items drawn per exploration place: enough that taken items and artist caps rarely leave it empty.
EXPLORE_CANDIDATES = 32


def filter_and_rerank(rec: RecommenderView, item_ids: list[str], scores: np.ndarray, n: int,
                      prefs: Preferences) -> tuple[list[str], np.ndarray]:
    """Return the best ``n`` of ``item_ids`` (ranked by ``scores``) under the user's ``prefs``.

    Excluded artists go; with a novelty weight ``w`` the score becomes
    ``(1 - w)·minmax(score) + w·(1 - minmax(popularity))``; then at most ``prefs.max_per_artist``
    items per artist (or the ``STREAMPROC_MAX_PER_ARTIST`` setting when the user set none).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if prefs.excluded_artists:
        keep = [i for i, item in enumerate(item_ids) if not prefs.excludes(rec.catalog.artists(item))]
        item_ids, scores = [item_ids[i] for i in keep], scores[keep]
    if prefs.novelty > 0 and item_ids:
        popularity = minmax(np.array([popularity_of(rec, item) for item in item_ids]))
        scores = (1.0 - prefs.novelty) * minmax(scores) + prefs.novelty * (1.0 - popularity)
        order = np.argsort(-scores, kind="stable")
        item_ids, scores = [item_ids[i] for i in order], scores[order]
    cap = artist_cap(rec, prefs)
    if cap > 0:
        artists = [tuple(rec.catalog.artists(item)) or (item,) for item in item_ids]
        picked, scores = cap_per_artist(np.arange(len(item_ids)), scores, artists, cap, n)
        item_ids = [item_ids[i] for i in picked]
    return item_ids[:n], scores[:n]


def popularity_of(rec: RecommenderView, item_id: str) -> float:
    """Return how popular an item is: log of its listeners, plus its catalogue popularity (0–100) / 100."""
    return float(np.log1p(rec.item_users(item_id))) + rec.catalog.popularity(item_id) / 100.0


def artist_cap(rec: RecommenderView, prefs: Preferences) -> int:
    """Return the most items per artist in the user's lists: their own cap, else the setting (0: no cap)."""
    return prefs.max_per_artist if prefs.max_per_artist is not None else rec.settings.max_per_artist


def artist_allows(rec: RecommenderView, item_id: str, prefs: Preferences, counts: dict[str, int]) -> bool:
    """Return True when ``item_id`` may join a list whose artists are counted in ``counts`` (updated).

    ``counts`` is :func:`artist_counts` of the list, so it is only kept up to date under a cap.
    """
    artists = rec.catalog.artists(item_id)
    if prefs.excludes(artists):
        return False
    cap = artist_cap(rec, prefs)
    if cap <= 0:
        return True
    names = [a.casefold() for a in artists] or [item_id]
    if any(counts.get(a, 0) >= cap for a in names):
        return False
    for a in names:
        counts[a] = counts.get(a, 0) + 1
    return True


def artist_counts(rec: RecommenderView, items: Sequence[RecommendedItem], prefs: Preferences) -> dict[str, int]:
    """Return artist → items of ``items`` by that artist (case-folded), for :func:`artist_allows`.

    Empty when the user's lists have no artist cap: nothing reads the counts then, and counting
    every list's artists was a good part of ranking it.
    """
    counts: dict[str, int] = {}
    if artist_cap(rec, prefs) <= 0:
        return counts
    for item in items:
        for a in [a.casefold() for a in rec.catalog.artists(item.item_id)] or [item.item_id]:
            counts[a] = counts.get(a, 0) + 1
    return counts


# Explanations --------------------------------------------------------------------------------


def nearest_favourites(scaled: np.ndarray, favourites: Sequence[int], items: Sequence[int]) -> list[int]:
    """Return, for each row of ``items``, the row of ``favourites`` nearest it (Manhattan).

    >>> X = np.array([[0.0], [10.0], [1.0], [9.0]])
    >>> nearest_favourites(X, [0, 1], [2, 3])
    [0, 1]
    """
    favourites = np.asarray(favourites)
    return [int(favourites[np.argmax(manhattan_scores(scaled[favourites], scaled[i]))]) for i in items]


def explain(rec: RecommenderView, history: Mapping[str, float], items: list[RecommendedItem]) -> list[RecommendedItem]:
    """Return ``items`` each with an explanation that names items the user played (with r > 0)."""
    return explain_many(rec, [history], [items])[0]


def explain_many(rec: RecommenderView, histories: Sequence[Mapping[str, float]],
                 lists: Sequence[list[RecommendedItem]], folded: FoldedUsers | None = None) -> list[list[RecommendedItem]]:
    """Return each of ``lists`` explained as :func:`explain` does, the ALS items of every list at once.

    A hybrid item (its explanation's ``part`` set by the ranking) is explained by that part: the
    ALS's decomposition, or the item model's played neighbours with the largest weights to it.
    ``folded`` holds the users (by position) when the caller folded them in already.
    """
    als = _als_explanations(rec, histories, lists, folded)
    neighbours = _item_model_explanations(rec, histories, lists, folded)
    return [_explained(rec, history, items, {**kinds, **more})
            for history, items, kinds, more in zip(histories, lists, als, neighbours)]


def _part(item: RecommendedItem) -> str | None:
    """Return the part of the blend a hybrid item owes most (``als`` or the item model's name), else None."""
    return item.explanation.get("part") if item.source == "hybrid" and item.explanation else None


def _explained(rec: RecommenderView, history: Mapping[str, float], items: list[RecommendedItem],
               kinds: dict[str, list[str]]) -> list[RecommendedItem]:
    nearest = _content_explanations(rec, history, [it.item_id for it in items if it.item_id not in kinds
                                                  and it.source != "popular" and not it.exploration])
    result = []
    for item in items:
        if item.exploration:
            explanation = {"kind": "exploration", "items": []}
        elif item.source == "hybrid":
            explanation = {"kind": "hybrid", "part": _part(item), "items": kinds.get(item.item_id, [])}
        elif item.item_id in kinds:
            explanation = {"kind": "als", "items": kinds[item.item_id]}
        elif item.item_id in nearest and item.source != "popular":
            explanation = {"kind": "content", "items": [nearest[item.item_id]]}
        else:
            explanation = {"kind": "popular", "items": []}
        result.append(RecommendedItem(item.item_id, item.score, item.source, explanation, item.exploration))
    return result


def _als_explanations(rec: RecommenderView, histories: Sequence[Mapping[str, float]],
                      lists: Sequence[list[RecommendedItem]], folded: FoldedUsers | None) -> list[dict[str, list[str]]]:
    """Return, per list, item id → the played items behind its ALS score, for the list's ALS items."""
    kinds: list[dict[str, list[str]]] = [{} for _ in lists]
    factors = folded.factors if folded else rec.factors
    if factors is None:
        return kinds
    wanted = [[item.item_id for item in items
               if (item.source == "als" or _part(item) == "als") and not item.exploration
               and item.item_id in factors.item_index]
              for items in lists]
    if not any(wanted):
        return kinds
    folded = folded or factors.fold_in(histories)
    targets = np.full((len(folded.positions), max(map(len, wanted))), -1, dtype=np.int64)
    for position, row in folded.positions.items():
        targets[row, :len(wanted[position])] = [factors.item_index[item] for item in wanted[position]]
    model = factors.model
    found, values = top_contributions(model.item_factors_, model.item_gram_, folded.weights, folded.reg, targets,
                                      EXPLAIN_ITEMS, model.item_basis_)
    # Named: the items contributing positively (a prefix, as contributions come largest first), else the largest.
    played = found >= 0
    named = np.count_nonzero(played & (values > 0), axis=2)
    named = np.where(named > 0, named, np.minimum(np.count_nonzero(played, axis=2), 1))
    found, named = found.tolist(), named.tolist()
    item_ids = factors.item_ids
    for position, row in folded.positions.items():
        for column, item in enumerate(wanted[position]):
            kinds[position][item] = [item_ids[j] for j in found[row][column][:named[row][column]]]
    return kinds


def _item_model_explanations(rec: RecommenderView, histories: Sequence[Mapping[str, float]],
                             lists: Sequence[list[RecommendedItem]],
                             folded: FoldedUsers | None) -> list[dict[str, list[str]]]:
    """Return, per list, item id → the played items with the largest positive weights to it in the item model
    (else the largest one), for the list's hybrid items that owe the item model most."""
    kinds: list[dict[str, list[str]]] = [{} for _ in lists]
    factors = folded.factors if folded else rec.factors
    if factors is None or factors.source != "hybrid":
        return kinds
    wanted = [[item.item_id for item in items if _part(item) not in (None, "als") and not item.exploration
               and item.item_id in factors.item_index] for items in lists]
    users = [position for position, items in enumerate(wanted) if items]
    if not users:
        return kinds
    folded = folded or factors.fold_in(histories)
    users = [position for position in users if position in folded.positions]
    rows = folded.rows[[folded.positions[position] for position in users]]
    found = factors.items.explain_many(rows, [[factors.item_index[item] for item in wanted[position]]
                                              for position in users], EXPLAIN_ITEMS)
    item_ids = factors.item_ids
    for position, per_item in zip(users, found):
        for item, contributions in zip(wanted[position], per_item):
            named = [j for j, value in contributions if value > 0] or [j for j, _ in contributions[:1]]
            kinds[position][item] = [item_ids[j] for j in named]
    return kinds


def _content_explanations(rec: RecommenderView, history: Mapping[str, float], item_ids: list[str]) -> dict[str, str]:
    # Most lists have no content item to explain: the history is only read when one does.
    if not item_ids or not rec.clusterer.is_fitted:
        return {}
    ids, index, scaled, _ = rec.content_view()
    favourites = [index[item] for item, r in history.items() if r > 0 and item in index]
    rows = [index[item] for item in item_ids if item in index]
    if not favourites or not rows:
        return {}
    return {ids[row]: ids[fav] for row, fav in zip(rows, nearest_favourites(scaled, favourites, rows))}


# Exploration ---------------------------------------------------------------------------------


def explore(rec: RecommenderView, user_id: str, history: Mapping[str, float], items: list[RecommendedItem],
            n: int, seen: Collection[str], prefs: Preferences, salt: str = "",
            allowed: Collection[str] | None = None, skipped: Mapping[str, int] | None = None) -> list[RecommendedItem]:
    """Return ``items`` with its last ``round(epsilon·n)`` places given to items from clusters the user never plays.

    Only ``allowed`` items are picked, when given. A drawn item the user skipped (``skipped``: item →
    skips) is kept with chance ``(1 - STREAMPROC_SKIP_PENALTY) ** skips``. Picks are seeded by
    ``user_id`` and ``salt``, so a list is reproducible. They are drawn from ``EXPLORE_CANDIDATES``
    random catalogue items per place, not from a shuffle of the whole catalogue, so that a list
    costs the same whatever the catalogue's size; a user who plays nearly every cluster may
    therefore get fewer exploration items. Without audio-feature clusters (a catalogue with no
    features) the list is returned unchanged.
    """
    share = round(rec.settings.exploration * n)
    if share <= 0 or not rec.clusterer.is_fitted:
        return items
    ids, index, _, labels = rec.content_view()
    usual = set(labels[[index[item] for item, r in history.items() if r > 0 and item in index]].tolist())
    kept = items[: max(n - share, 0)]
    taken = {item.item_id for item in items}  # with ``seen``, not copied into it: a history can be long
    draw = random.Random(zlib.crc32(f"{user_id}:{salt}".encode()))
    counts = artist_counts(rec, kept, prefs)
    picks = []
    for j in _explore_candidates(rec, labels, usual, ids, allowed, draw, EXPLORE_CANDIDATES * share):
        item = ids[j]
        if int(labels[j]) in usual or item in taken or item in seen or (allowed is not None and item not in allowed):
            continue
        if skipped and not survives(skipped.get(item, 0), rec.skip_penalty, draw):
            taken.add(item)  # one chance per list, however often it is drawn again
            continue
        if artist_allows(rec, item, prefs, counts):
            picks.append(RecommendedItem(item, 0.0, "content", exploration=True))
            taken.add(item)
            if len(picks) == share:
                break
    if not picks:
        return items
    return items[: n - len(picks)] + picks


def _explore_candidates(rec: RecommenderView, labels: np.ndarray, usual: set[int], ids: list[str],
                        allowed: Collection[str] | None, draw: random.Random, attempts: int) -> Iterator[int]:
    """Yield rows of the content view to try as exploration picks: chosen by the recommender's bandit
    when it has one (:mod:`streamproc.recommend.bandit`), else uniformly among ``allowed`` (or all)."""
    if rec.bandit is not None:
        yield from rec.bandit.candidates(labels, usual, draw, attempts)
        return
    pool: Sequence[int] = range(len(ids)) if allowed is None else [j for j, item in enumerate(ids) if item in allowed]
    for _ in range(attempts if pool else 0):
        yield pool[draw.randrange(len(pool))]
