"""The batch layer: every user's history, the audio-feature clusters, and when and how to train.

One worker at a time (the Faust leader, see :mod:`agents.training`) keeps a :class:`Trainer`:
each partition's users as the workers persist them (:class:`tables.user_state.PartitionState`,
fed from the user-state log and ``listens``), who opted out, and a
:class:`~models.clustering.StreamingClusterer` fed with every catalogue track's features. It
trains the ALS on all users but the opted-out ones, counts each item's listeners, and returns
a :class:`~tables.model_bundle.PublishedModel` for every worker. No Kafka and no Faust here.

>>> from streamproc.settings import Settings
>>> trainer = Trainer(Settings(min_train_users=2, als_factors=2, als_iterations=2))
>>> for n, (user, item) in enumerate([("u1", "a"), ("u1", "b"), ("u2", "a"), ("u3", "c")]):
...     _ = trainer.apply(0, user, item, "play", 1, offset=n)
>>> trainer.due(now=0.0)
True
>>> model = trainer.train(trainer.snapshot(), version=1)
>>> model.item_ids, model.popularity.tolist(), model.als.item_factors_.shape
(['a', 'b', 'c'], [2, 1, 1], (3, 2))
>>> type(model.item_model).__name__, model.hybrid
('EASE', Blend(weight=0.8, normalise='minmax'))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from models.als import ImplicitALS
from models.clustering import ClusterModel, StreamingClusterer
from models.ease import EASE
from models.item_item import ItemItemRecommender
from models.rp3beta import RP3beta
from streamproc.recommend.catalog import Catalog
from streamproc.settings import Settings
from tables.model_bundle import Blend, PublishedModel
from tables.user_state import PartitionState

log = logging.getLogger(__name__)
History = Mapping[str, float]
# Before the first ALS model (too few users), popularity and clusters are published this often.
PRELIMINARY_S = 5.0


class TrainingSnapshot(NamedTuple):
    """What one training reads, copied on the event loop: the histories and the clusters."""

    histories: list[tuple[str, dict[str, float]]]
    clusters: ClusterModel | None


def to_csr(histories: Sequence[tuple[str, History]]) -> tuple[sp.csr_matrix, list[str], list[str]]:
    """Return the users × items matrix of positive confidences, with its user and item ids.

    >>> matrix, users, items = to_csr([("u1", {"a": 3.0, "b": -1.0}), ("u2", {"a": 1.0})])
    >>> matrix.toarray().tolist(), users, items
    ([[3.0], [1.0]], ['u1', 'u2'], ['a'])
    """
    item_index: dict[str, int] = {}
    users: list[str] = []
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    for user_id, history in histories:
        positive = [(item_index.setdefault(item, len(item_index)), r) for item, r in history.items() if r > 0]
        if not positive:
            continue
        users.append(user_id)
        for column, r in sorted(positive):
            indices.append(column)
            data.append(r)
        indptr.append(len(indices))
    matrix = sp.csr_matrix(
        (np.asarray(data, np.float32), np.asarray(indices, np.int32), np.asarray(indptr, np.int64)),
        shape=(len(users), len(item_index)),
    )
    return matrix, users, list(item_index)


class Trainer:
    """Every partition's users, the opted-out set and the clusterer; decides when a model is due."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.weights = settings.event_weights()
        self.states: dict[int, PartitionState] = {}
        self.opted_out: set[str] = set()
        self.clusterer = StreamingClusterer(n_clusters=settings.clusters, batch_size=settings.cluster_batch)
        self.total_events = 0
        self.events_at_training = 0
        self.trained_at = 0.0
        self.published_als = False
        self.view_changed = False
        self._fed: set[str] = set()
        self._features_new = False

    def partition(self, partition: int) -> PartitionState:
        """Return the state of ``partition`` (empty when never loaded)."""
        state = self.states.get(partition)
        if state is None:
            state = self.states[partition] = PartitionState(partition, self.weights)
        return state

    def load(self, state: PartitionState) -> None:
        """Take a partition's state as loaded from its log."""
        old = self.states.get(state.partition)
        self.total_events += state.total_events() - (old.total_events() if old else 0)
        self.states[state.partition] = state

    def load_histories(self, histories: Mapping[str, Mapping[str, float]], partition: int = 0) -> None:
        """Take ``histories`` (user id → item → confidence, one event per item) into ``partition``,
        as an offline set of interactions (for evaluations and tests)."""
        state = PartitionState(partition, self.weights)
        state.users = {user_id: [len(history), dict(history)] for user_id, history in histories.items()}
        self.load(state)

    def apply(self, partition: int, user_id: str, item_id: str, event: str, count: int, offset: int) -> bool:
        """Apply one listening event of ``partition``; return False when it was applied already."""
        applied = self.partition(partition).apply(user_id, item_id, event, count, offset)
        self.total_events += applied
        return applied

    def forget(self, partition: int, user_id: str, through: int) -> None:
        """Forget a user: their events up to ``through`` on ``partition`` are void."""
        state = self.partition(partition)
        self.total_events -= state.events(user_id)
        state.void(user_id, through)
        self.view_changed = True

    def set_opted_out(self, user_id: str, out: bool) -> None:
        """Note that the user opted out of (or back into) training."""
        if out != (user_id in self.opted_out):
            (self.opted_out.add if out else self.opted_out.discard)(user_id)
            self.view_changed = True

    def feed_catalog(self, catalog: Catalog) -> None:
        """Teach the clusterer the audio features of the catalogue's tracks it has not seen yet."""
        ids, matrix = catalog.feature_matrix()
        new = [i for i, item in enumerate(ids) if item not in self._fed]
        if new:
            self.clusterer.partial_fit(matrix[new])
            self._fed.update(ids[i] for i in new)
            self._features_new = True

    def users(self) -> int:
        """Return how many users the trainer holds."""
        return sum(len(state) for state in self.states.values())

    def due(self, now: float | None = None) -> bool:
        """Return True when a new model should be trained now.

        The first ALS model comes as soon as ``STREAMPROC_MIN_TRAIN_USERS`` users have listened;
        then one every ``STREAMPROC_RETRAIN_EVENTS`` events but not sooner than
        ``STREAMPROC_RETRAIN_MIN_SECONDS`` after the last, or every ``STREAMPROC_RETRAIN_SECONDS``
        when anything changed, and at once when a user left or rejoined training. Before it, the
        popularity and clusters are published every few seconds while they change.

        >>> from streamproc.settings import Settings
        >>> trainer = Trainer(Settings(min_train_users=1, retrain_events=2, retrain_min_seconds=30.0))
        >>> trainer.published_als, trainer.trained_at = True, 100.0
        >>> _ = [trainer.apply(0, "u1", item, "play", 1, offset=n) for n, item in enumerate("abc")]
        >>> trainer.due(now=110.0), trainer.due(now=130.0)
        (False, True)
        """
        new = self.total_events - self.events_at_training
        if not (new > 0 or self._features_new or self.view_changed):
            return False
        enough = self.users() >= self.settings.min_train_users
        if enough and (not self.published_als or self.view_changed):
            return True
        elapsed = (now if now is not None else time.time()) - self.trained_at
        if enough and new >= self.settings.retrain_events and elapsed >= self.settings.retrain_min_seconds:
            return True
        return elapsed >= (self.settings.retrain_seconds if self.published_als else PRELIMINARY_S)

    def snapshot(self) -> TrainingSnapshot:
        """Return a copy of every history but the opted-out users' and of the clusters, for a training
        thread, and mark the moment: the events and changes until now are what the next model reflects."""
        self.events_at_training = self.total_events
        self.trained_at = time.time()
        self.view_changed = self._features_new = False
        histories = [(user_id, dict(user[1])) for state in self.states.values()
                     for user_id, user in state.users.items() if user_id not in self.opted_out]
        return TrainingSnapshot(histories, self.clusterer.to_model() if self.clusterer.is_fitted else None)

    def train(self, snapshot: TrainingSnapshot, version: int) -> PublishedModel:
        """Return model ``version`` trained on ``snapshot`` (safe to call off the event loop)."""
        matrix, users, items = to_csr(snapshot.histories)
        started = time.perf_counter()
        als = item_model = None
        if len(users) >= self.settings.min_train_users:
            als = self._als(version).fit(matrix)
            self.published_als = True
            item_model = self.fit_item_model(matrix)
        hybrid = Blend(self.settings.hybrid_weight, self.settings.hybrid_normalise) if item_model else None
        return PublishedModel(version, time.time(), time.perf_counter() - started, len(users), items, als,
                              matrix.getnnz(axis=0), snapshot.clusters, item_model, hybrid)

    def fit_item_model(self, matrix: sp.csr_matrix) -> ItemItemRecommender | None:
        """Return the sparse item model fitted on ``matrix``, or None when the settings serve the ALS alone
        or the catalogue is too large for EASE's dense inverse (said in a warning; the ALS is served alone)."""
        s = self.settings
        if not s.serves_item_model():
            return None
        model = (EASE(regularization=s.ease_regularization, neighbours=s.item_neighbours, num_threads=s.als_threads)
                 if s.item_model == "ease" else
                 RP3beta(alpha=s.rp3beta_alpha, beta=s.rp3beta_beta, neighbours=s.item_neighbours))
        try:
            return model.fit(matrix)
        except ValueError as exc:
            log.warning("no item model in this version, the ALS is served alone: %s", exc)
            return None

    def _als(self, version: int) -> ImplicitALS:
        s = self.settings
        return ImplicitALS(factors=s.als_factors, regularization=s.als_regularization, alpha=s.als_alpha,
                           iterations=s.als_iterations, confidence=s.als_confidence,
                           regularization_mode=s.als_regularization_mode, solver=s.als_solver,
                           num_threads=s.als_threads, random_state=version)
