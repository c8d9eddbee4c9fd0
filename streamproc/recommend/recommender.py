"""The recommender a worker serves from: the ALS blended with the item model, then content, then popularity.

It holds the catalogue (every worker follows ``tracks``) and the newest model the trainer
published (:meth:`Recommender.install`: the ALS item factors, the sparse item x item model and
their blend, each item's listeners, the audio-feature clusters), and turns one user's history
into a ranked list. With an item model, a user's scores are the blend (``hybrid``) of the
ALS's (folded in) and the item model's (their history row times its matrix, no fold-in). No Kafka and no
Faust here: agents call it, tests drive it with plain data.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

import numpy as np

from models.clustering import ClusterModel
from models.content import content_recommend, taste_vector
from models.ranking import top_n_rows
from streamproc.recommend import personalise, skips
from streamproc.recommend.factors import FactorModel, FoldedUsers
from streamproc.recommend.bandit import ClusterBandit
from streamproc.recommend.catalog import Catalog
from streamproc.settings import Settings
from tables.control import Preferences
from tables.model_bundle import PublishedModel
from tables.recommendation import ModelInfo, Recommendation, RecommendedItem
from tables.track import FEATURES

CANDIDATE_FACTOR = 3
# Scores computed at once when ranking a batch of users: bounds the (users, items) product.
SCORE_CELLS = 1 << 22


class Recommender:
    """Ranks items for users with the newest published model and the catalogue.

    ``controls`` maps a user id to the user's ``user_controls`` state (the worker's table).
    """

    def __init__(self, settings: Settings, controls: Mapping[str, Any] | None = None) -> None:
        self.settings = settings
        self.catalog = Catalog()
        self.controls: Mapping[str, Any] = {} if controls is None else controls
        self.factors: FactorModel | None = None
        self.published: PublishedModel | None = None
        self.clusterer = ClusterModel.empty(len(FEATURES))
        self.popularity: dict[str, int] = {}
        # (catalogue version, items by popularity); a new model empties it
        self._popular: tuple[int, list[str]] = (-1, [])
        self._content: tuple[tuple[int, int], list[str], dict[str, int], np.ndarray, np.ndarray] | None = None
        # Chooses the clusters exploration picks come from (None: uniformly at random).
        self.bandit: ClusterBandit | None = ClusterBandit() if settings.explores_by_bandit() else None
        self.skip_penalty = settings.penalty_per_skip()

    @property
    def version(self) -> int:
        """Return the version of the installed model (0: none yet)."""
        return self.published.version if self.published else 0

    def install(self, model: PublishedModel) -> None:
        """Rank with ``model`` from now on: its ALS, its listener counts and its clusters."""
        self.published = model
        self.factors = FactorModel(
            model=model.als, item_ids=model.item_ids, item_index={item: i for i, item in enumerate(model.item_ids)},
            version=model.version, trained_at=model.trained_at, fit_seconds=model.fit_seconds, n_users=model.n_users,
            items=model.item_model, hybrid=model.hybrid,
        ) if model.als is not None else None
        self.popularity = dict(zip(model.item_ids, model.popularity.tolist()))
        if model.clusters is not None:
            self.clusterer = model.clusters
        self._popular = (-1, [])
        self._content = None

    def judge_exploration(self, item_id: str, played: bool) -> None:
        """Tell the bandit (when exploring by one) that an exploration pick ``item_id`` was played or skipped."""
        if self.bandit is None:
            return
        _, index, _, labels = self.content_view()
        if item_id in index:
            self.bandit.observe(int(labels[index[item_id]]), played)

    def item_users(self, item_id: str) -> int:
        """Return how many users played ``item_id``, as of the installed model."""
        return self.popularity.get(item_id, 0)

    # Ranking -------------------------------------------------------------------------------

    def recommend(self, user_id: str, history: Mapping[str, float], n: int | None = None,
                  exclude: Collection[str] = (), salt: str | None = None,
                  skipped: Mapping[str, int] | None = None) -> Recommendation:
        """Return the top-``n`` items ``user_id`` has not played, with the model that found them.

        The user's controls (:attr:`controls`) apply: an opted-out user gets the popular items
        whatever their history; excluded artists never appear; diversity caps artists and favours
        less popular items. ``exclude`` items are left out too; a share of the list explores
        clusters the user never plays (seeded by ``user_id`` and ``salt``). The items the user
        only skipped (``skipped``: item → skips) are lowered by ``STREAMPROC_SKIP_PENALTY``
        (:mod:`streamproc.recommend.skips`); without it every item of the history is left out.
        Every item is explained.
        """
        return self.recommend_many([(user_id, history)], n, exclude, salt, None if skipped is None else [skipped])[0]

    def recommend_many(self, users: Sequence[tuple[str, Mapping[str, float]]], n: int | None = None,
                       exclude: Collection[str] = (), salt: str | None = None,
                       skipped: Sequence[Mapping[str, int]] | None = None) -> list[Recommendation]:
        """Return :meth:`recommend` of each (user id, history) in ``users``, ranked together
        (``skipped``: each user's item → skips, in the same order).

        The users' ALS vectors come from one batched fold-in and their scores from one matrix
        product, so a batch of events costs far less than one call per user.
        """
        n = n or self.settings.top_n
        prefs = [Preferences.from_state(self.controls.get(user_id)) for user_id, _ in users]
        histories = [{} if p.opted_out else history for (_, history), p in zip(users, prefs)]
        skips_of: list[Mapping[str, int]] = [{} if p.opted_out or skipped is None else skipped[position]
                                             for position, p in enumerate(prefs)]
        seens = [skips.left_out(history, s, self.skip_penalty).union(exclude)
                 for history, s in zip(histories, skips_of)]
        factors = self.factors
        folded = factors.fold_in(histories, self.settings.min_als_items) if factors else None
        als_lists = self._als(folded, n, seens, skips_of, prefs) if folded else [[] for _ in users]
        version = self.version
        lists: list[tuple[str, list[RecommendedItem]]] = []
        for position, ((user_id, _), history, seen, s, p) in enumerate(zip(users, histories, seens, skips_of, prefs)):
            kind, items = factors.source if factors else "als", als_lists[position]
            if not items:
                items = self._content_items(history, n, seen, s, p)
                kind = "content" if items else "popular"
            items = self._fill_with_popular(items, n, seen, s, p)
            if not p.opted_out:
                user_salt = str(sum(1 for r in history.values() if r > 0)) if salt is None else salt
                items = personalise.explore(self, user_id, history, items, n, seen, p, user_salt, skipped=s)
            lists.append((kind, items))
        explained = personalise.explain_many(self, histories, [items for _, items in lists], folded)
        now = time.time()
        return [Recommendation(user_id, now, ModelInfo(kind, version), items)
                for (user_id, _), (kind, _), items in zip(users, lists, explained)]

    def _als(self, folded: FoldedUsers, n: int, seens: list[set[str]], skips_of: list[Mapping[str, int]],
             prefs: list[Preferences]) -> list[list[RecommendedItem]]:
        """Return the ALS (or hybrid) list of each position of ``seens`` (empty where the user was not folded in).

        A hybrid item carries ``{"kind": "hybrid", "part": ...}``: the model its score owes most,
        which :func:`~streamproc.recommend.personalise.explain_many` explains it by.
        """
        lists: list[list[RecommendedItem]] = [[] for _ in seens]
        factors = folded.factors
        item_ids, source = factors.item_ids, factors.source
        positions = list(folded.positions)
        step = max(1, SCORE_CELLS // max(len(item_ids), 1))
        for start in range(0, len(positions), step):
            scores, als_led = folded.scores(start, start + step)
            found = top_n_rows(scores, n * CANDIDATE_FACTOR, exclude=folded.rows[start:start + step])
            for row, (position, (ids, values)) in enumerate(zip(positions[start:start + step], found)):
                items = self._ranked([item_ids[i] for i in ids.tolist()], values, n, seens[position],
                                     skips_of[position], source, prefs[position])
                if als_led is not None:
                    led = als_led[row]
                    items = [dataclasses.replace(item, explanation={
                        "kind": "hybrid", "items": [],
                        "part": "als" if led[factors.item_index[item.item_id]] else factors.item_part})
                        for item in items]
                lists[position] = items
        return lists

    def _content_items(self, history: Mapping[str, float], n: int, seen: set[str], skipped: Mapping[str, int],
                       prefs: Preferences) -> list[RecommendedItem]:
        if not self.clusterer.is_fitted:
            return []
        ids, index, scaled, labels = self.content_view()
        mine = [(index[item], r) for item, r in history.items() if r > 0 and item in index]
        if not mine:
            return []
        rows, weights = (np.asarray(v) for v in zip(*mine))
        taste = taste_vector(scaled, rows, np.log1p(weights))
        found, scores = content_recommend(
            taste,
            scaled,
            labels,
            self.clusterer.centres_,
            n=n * CANDIDATE_FACTOR,
            n_clusters=self.settings.content_clusters,
            exclude=rows,
        )
        return self._ranked([ids[i] for i in found], scores, n, seen, skipped, "content", prefs)

    def content_view(self) -> tuple[list[str], dict[str, int], np.ndarray, np.ndarray]:
        """Return the catalogue's tracks with audio features: their ids, id → row, scaled features and
        clusters; made again only when the catalogue or the clusters changed."""
        key = (self.catalog.version, self.clusterer.n_seen_)
        if self._content is None or self._content[0] != key:
            ids, raw = self.catalog.feature_matrix()
            # The clusterer may have learnt from tracks this worker's catalogue feed has not reached yet.
            scaled = self.clusterer.transform(raw) if ids else raw
            labels = self.clusterer.predict(raw) if ids else np.empty(0, dtype=np.int64)
            self._content = (key, ids, {item: i for i, item in enumerate(ids)}, scaled, labels)
        return self._content[1], self._content[2], self._content[3], self._content[4]

    def _ranked(self, item_ids: list[str], scores: np.ndarray, n: int, seen: set[str], skipped: Mapping[str, int],
                source: str, prefs: Preferences) -> list[RecommendedItem]:
        keep = [i for i, item in enumerate(item_ids) if item not in seen]
        item_ids = [item_ids[i] for i in keep]
        scores = np.asarray(scores)[keep]
        if skipped:
            item_ids, scores = skips.lowered(item_ids, scores, skipped, self.skip_penalty)
        item_ids, scores = personalise.filter_and_rerank(self, item_ids, scores, n, prefs)
        return [RecommendedItem(item, score, source) for item, score in zip(item_ids[:n], scores[:n].tolist())]

    def popular_items(self) -> list[str]:
        """Return items by how many users played them, then by catalogue popularity.

        Sorted again only when the catalogue or the model changed (sorting 5,000 items took 7 % of a
        busy worker when redone every second).
        """
        version, order = self._popular
        if version != self.catalog.version:
            plays = self.popularity
            candidates = set(plays) | set(self.catalog.item_ids())
            order = sorted(candidates, key=lambda item: (-plays.get(item, 0), -self.catalog.popularity(item), item))
            self._popular = (self.catalog.version, order)
        return order

    def _fill_with_popular(self, items: list[RecommendedItem], n: int, seen: set[str], skipped: Mapping[str, int],
                           prefs: Preferences) -> list[RecommendedItem]:
        if len(items) >= n:
            return items
        taken = seen | {item.item_id for item in items}
        artists = personalise.artist_counts(self, items, prefs)
        for item, score in self._popular_candidates(taken, n, skipped):
            if len(items) == n:
                break
            if personalise.artist_allows(self, item, prefs, artists):
                items.append(RecommendedItem(item, score, "popular"))
        return items

    def _popular_candidates(self, taken: set[str], n: int, skipped: Mapping[str, int]) -> Iterator[tuple[str, float]]:
        """Yield (item, score: its listeners) of the popular items not ``taken``, most played first, the
        ``skipped`` ones lowered among the first ``n · CANDIDATE_FACTOR`` as in the ranked sources; a
        skipped item past those comes after every other (it only ever goes down)."""
        candidates = ((item, float(self.item_users(item))) for item in self.popular_items() if item not in taken)
        if not skipped or self.skip_penalty <= 0:
            yield from candidates
            return
        window = list(islice(candidates, n * CANDIDATE_FACTOR))
        if window:
            ids, scores = skips.lowered([item for item, _ in window], np.array([score for _, score in window]),
                                        skipped, self.skip_penalty)
            yield from zip(ids, scores.tolist())
        later = []
        for item, score in candidates:
            if item in skipped:
                later.append((item, score))
            else:
                yield item, score
        yield from later
