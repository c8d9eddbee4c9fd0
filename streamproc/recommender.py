"""The recommender a worker serves from: ALS first, then content, then popularity.

It holds the global catalogue and interactions (fed from the tables' changelogs), the
current factor model and the audio-feature clusterer, and turns one user's history into
a ranked list. No Kafka and no Faust here: agents call it, tests drive it with plain data.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from models.als import ImplicitALS
from models.clustering import StreamingClusterer
from models.content import content_recommend, taste_vector
from streamproc import personalise
from streamproc.catalog import Catalog
from streamproc.interactions import History, Interactions, to_csr
from streamproc.settings import Settings
from tables.control import Preferences
from tables.recommendation import ModelInfo, Recommendation, RecommendedItem

CANDIDATE_FACTOR = 3
POPULAR_CACHE_S = 1.0


@dataclasses.dataclass(frozen=True)
class FactorModel:
    """A trained ALS model with the item ids of its columns."""

    model: ImplicitALS
    item_ids: list[str]
    item_index: dict[str, int]
    version: int
    trained_at: float
    fit_seconds: float
    n_users: int


class Recommender:
    """Ranks items for users from the global state of one worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = Catalog()
        self.interactions = Interactions()
        self.clusterer = StreamingClusterer(n_clusters=settings.clusters, batch_size=settings.cluster_batch)
        self.factors: FactorModel | None = None
        self.events_at_training = 0
        self._popular: tuple[float, list[str]] = (0.0, [])
        self._content: tuple[tuple[int, int], list[str], dict[str, int], np.ndarray, np.ndarray] | None = None
        # user id → the user's ``user_controls`` state (the worker sets its table here)
        self.controls: Mapping[str, Any] = {}
        # set when a user left or rejoined the training view (opt-out, opt-in, forget me)
        self.retrain_requested = False

    # Training ------------------------------------------------------------------------------

    def training_due(self, now: float | None = None) -> bool:
        """Return True when enough new events have arrived, or enough time has passed with some.

        Also True (once: the request is cleared) after :meth:`request_retrain`, when a user left or
        rejoined the training view, so that the next model is trained without an opted-out user.
        """
        due = self._training_due(now)
        if due:
            self.retrain_requested = False
        return due

    def _training_due(self, now: float | None) -> bool:
        if len(self.interactions) < self.settings.min_train_users:
            return False
        if self.retrain_requested and self.factors is not None:
            return True
        new = self.interactions.total_events - self.events_at_training
        if new <= 0:
            return False
        if self.factors is None or new >= self.settings.retrain_events:
            return True
        return (now or time.time()) - self.factors.trained_at >= self.settings.retrain_seconds

    def request_retrain(self) -> None:
        """Ask for a new model at the next :meth:`training_due` check (the view of users changed)."""
        self.retrain_requested = True

    def train(self, histories: list[tuple[str, History]], version: int) -> FactorModel:
        """Fit a new factor model on ``histories`` (a snapshot; safe to call off the event loop)."""
        matrix, users, items = to_csr(histories)
        s = self.settings
        model = ImplicitALS(
            factors=s.als_factors,
            regularization=s.als_regularization,
            alpha=s.als_alpha,
            iterations=s.als_iterations,
            confidence=s.als_confidence,
            regularization_mode=s.als_regularization_mode,
            solver=s.als_solver,
            num_threads=s.als_threads,
            random_state=version,
        )
        started = time.perf_counter()
        model.fit(matrix)
        return FactorModel(
            model=model,
            item_ids=items,
            item_index={item: i for i, item in enumerate(items)},
            version=version,
            trained_at=time.time(),
            fit_seconds=time.perf_counter() - started,
            n_users=len(users),
        )

    # Ranking -------------------------------------------------------------------------------

    def recommend(self, user_id: str, history: Mapping[str, float], n: int | None = None,
                  exclude: Collection[str] = (), salt: str | None = None) -> Recommendation:
        """Return the top-``n`` items ``user_id`` has not played, with the model that found them.

        The user's controls (:attr:`controls`) apply: an opted-out user gets the popular items
        whatever their history; excluded artists never appear; diversity caps artists and favours
        less popular items. ``exclude`` items are left out too; a share of the list explores
        clusters the user never plays (seeded by ``user_id`` and ``salt``). Every item is explained.
        """
        n = n or self.settings.top_n
        prefs = Preferences.from_state(self.controls.get(user_id))
        if prefs.opted_out:
            history = {}
        seen = set(history) | set(exclude)
        for kind, rank in (("als", self._als), ("content", self._content_items)):
            items = rank(history, n, seen, prefs)
            if items:
                break
        else:
            kind, items = "popular", []
        items = self._fill_with_popular(items, n, seen, prefs)
        if not prefs.opted_out:
            salt = str(sum(1 for r in history.values() if r > 0)) if salt is None else salt
            items = personalise.explore(self, user_id, history, items, n, seen, prefs, salt)
        items = personalise.explain(self, history, items)
        version = self.factors.version if self.factors else 0
        return Recommendation(user_id, time.time(), ModelInfo(kind, version), items)

    def _als(self, history: Mapping[str, float], n: int, seen: set[str],
             prefs: Preferences = Preferences()) -> list[RecommendedItem]:
        factors = self.factors
        if factors is None:
            return []
        known = [(factors.item_index[item], r) for item, r in history.items() if r > 0 and item in factors.item_index]
        if len(known) < self.settings.min_als_items:
            return []
        columns, values = zip(*sorted(known))
        row = sp.csr_matrix(
            (np.asarray(values, np.float32), np.asarray(columns), [0, len(columns)]),
            shape=(1, len(factors.item_ids)),
        )
        vector = factors.model.fold_in(row)
        ids, scores = factors.model.recommend(
            None, n=n * CANDIDATE_FACTOR, user_items=row, exclude_seen=True, user_vector=vector
        )
        return self._ranked([factors.item_ids[i] for i in ids], scores, n, seen, "als", prefs)

    def _content_items(self, history: Mapping[str, float], n: int, seen: set[str],
                       prefs: Preferences = Preferences()) -> list[RecommendedItem]:
        if not self.clusterer.is_fitted:
            return []
        ids, index, scaled, labels = self._content_view()
        mine = [(index[item], r) for item, r in history.items() if r > 0 and item in index]
        if not mine:
            return []
        rows, weights = (np.asarray(v) for v in zip(*mine))
        taste = taste_vector(scaled, rows, np.log1p(weights))
        found, scores = content_recommend(
            taste,
            scaled,
            labels,
            self.clusterer.kmeans_.cluster_centers_,
            n=n * CANDIDATE_FACTOR,
            n_clusters=self.settings.content_clusters,
            exclude=rows,
        )
        return self._ranked([ids[i] for i in found], scores, n, seen, "content", prefs)

    def _content_view(self) -> tuple[list[str], dict[str, int], np.ndarray, np.ndarray]:
        key = (self.catalog.version, self.clusterer.n_seen_)
        if self._content is None or self._content[0] != key:
            ids, raw = self.catalog.feature_matrix()
            # The clusterer may have learnt from tracks this worker's catalogue feed has not reached yet.
            scaled = self.clusterer.transform(raw) if ids else raw
            labels = self.clusterer.predict(raw) if ids else np.empty(0, dtype=np.int64)
            self._content = (key, ids, {item: i for i, item in enumerate(ids)}, scaled, labels)
        return self._content[1], self._content[2], self._content[3], self._content[4]

    def _ranked(self, item_ids: list[str], scores: np.ndarray, n: int, seen: set[str], source: str,
                prefs: Preferences = Preferences()) -> list[RecommendedItem]:
        keep = [i for i, item in enumerate(item_ids) if item not in seen]
        item_ids = [item_ids[i] for i in keep]
        scores = np.asarray(scores)[keep]
        item_ids, scores = personalise.filter_and_rerank(self, item_ids, scores, n, prefs)
        return [RecommendedItem(item, float(score), source) for item, score in zip(item_ids[:n], scores[:n])]

    def popular_items(self) -> list[str]:
        """Return items by how many users played them, then by catalogue popularity (cached briefly)."""
        stamp, order = self._popular
        if time.monotonic() - stamp > POPULAR_CACHE_S:
            plays = self.interactions.item_popularity()
            candidates = set(plays) | set(self.catalog.item_ids())
            order = sorted(candidates, key=lambda item: (-plays[item], -self.catalog.popularity(item), item))
            self._popular = (time.monotonic(), order)
        return order

    def _fill_with_popular(self, items: list[RecommendedItem], n: int, seen: set[str],
                           prefs: Preferences = Preferences()) -> list[RecommendedItem]:
        if len(items) >= n:
            return items
        taken = seen | {item.item_id for item in items}
        artists = personalise.artist_counts(self, items)
        for item in self.popular_items():
            if len(items) == n:
                break
            if item not in taken and personalise.artist_allows(self, item, prefs, artists):
                items.append(RecommendedItem(item, float(self.interactions.item_users(item)), "popular"))
                taken.add(item)
        return items
