"""Prequential (test, then train) evaluation of the recommender on a timeline of events.

The events are replayed in time order, in-process and without a broker, through the code the
workers run: :class:`~streamproc.recommend.training.Trainer` trains and builds each model as the
leader does, :class:`~streamproc.recommend.recommender.Recommender` folds the user's history in
and ranks with the ranking rules (controls, exploration, popular fill). The first half of the
events (by time) only warms up; then, for every event whose item the user never had before and
whose weight is positive, the user's current top ``k`` (what the system would have sent before
this event) is looked at, a hit counted when the item is in it, and the event applied.

The model is retrained as the trainer does, but in event time: after ``STREAMPROC_RETRAIN_EVENTS``
events (not sooner than ``STREAMPROC_RETRAIN_MIN_SECONDS`` after the last), or
``STREAMPROC_RETRAIN_SECONDS`` of event time with any new event. Two baselines are
scored on the same events: ``weekly``, the same model retrained and every list made again only at
each 7-day boundary of event time (counted from the end of the warm-up), with no fold-in between;
``popularity``, the ``k`` most played items (events of positive weight so far) the user never had.

Lists are cached per user and made again only after that user's event or a new model; the lists
that are needed before either happens are ranked together, as the ranking agent does. An event of
negative weight is a skip, ``weight / STREAMPROC_WEIGHT_SKIP`` of them (at least one), counted per
user and item as the workers count them (:func:`tables.user_state.add_event`), so that skipped
items are lowered by ``STREAMPROC_SKIP_PENALTY`` in both our lists and the weekly ones.

Every listener plays a, then b, then c: the next item is certain, and a list folded in after each
event has it first, while a list made once a week only knows the history of that moment. (The ALS
alone here: the default blend with EASE misses one of the 8 on a set this small, 0.875.)

>>> from streamproc.settings import EXPLORATION_POLICIES, Settings
>>> from models.split import Timeline
>>> rows = [(f"u{u}", item) for u in range(4) for item in "abc"] + [("new", "a"), ("new", "b"), ("new", "c")]
>>> users, items = (np.array(column, dtype=object) for column in zip(*rows))
>>> timeline = Timeline(users, items, np.ones(len(rows)), np.arange(len(rows), dtype=float) * 3600)
>>> settings = Settings(min_train_users=2, als_factors=2, exploration=0.0, item_model="none")
>>> result = evaluate_stream(timeline, settings, k=1)
>>> result["events"], result["hit_rate@1"], result["baselines"]["weekly"]["hit_rate@1"]
(8, 1.0, 0.375)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from models.metrics import ndcg_at_k
from models.split import Timeline
from streamproc.recommend.recommender import Recommender
from streamproc.recommend.training import Trainer
from streamproc.settings import EXPLORATION_POLICIES, Settings
from tables.model_bundle import PublishedModel
from tables.track import Track
from tables.user_state import add_event

K = 10
WEEK_S = 7 * 86_400.0
# Users ranked together, as the ranking agent's slices.
BATCH_USERS = 200
# How far ahead to look for the users whose lists are needed before their next event.
LOOKAHEAD_EVENTS = 4000

History = dict[str, float]
Skips = dict[str, int]


def first_events(timeline: Timeline) -> np.ndarray:
    """Return, per event, True when its item is new to its user (the scored ones: those of positive weight).

    >>> t = Timeline(np.array(["u", "u", "u", "v"], dtype=object), np.array(["a", "a", "b", "a"], dtype=object),
    ...              np.array([1.0, 1.0, -1.0, 2.0]), np.arange(4.0))
    >>> first_events(t).tolist(), (first_events(t) & (t.weights > 0)).tolist()
    ([True, False, True, True], [True, False, False, True])
    """
    seen: set[tuple[str, str]] = set()
    first = np.zeros(len(timeline), dtype=bool)
    for position, pair in enumerate(zip(timeline.users.tolist(), timeline.items.tolist())):
        if pair not in seen:
            seen.add(pair)
            first[position] = True
    return first


@dataclasses.dataclass
class Score:
    """Hits and summed nDCG of one system over the events it was judged on."""

    events: int = 0
    hits: int = 0
    ndcg: float = 0.0

    def add(self, ranked: Sequence[str], item: str, k: int) -> None:
        """Count one judged event: ``item`` came after the list ``ranked`` was made."""
        self.events += 1
        if item in ranked[:k]:
            self.hits += 1
            self.ndcg += ndcg_at_k(np.arange(len(ranked)), {ranked.index(item)}, k)

    def to_dict(self, k: int) -> dict[str, float]:
        """Return the hit rate and nDCG at ``k`` (0 over no event)."""
        events = max(self.events, 1)
        return {f"hit_rate@{k}": self.hits / events, f"ndcg@{k}": self.ndcg / events}


def train(trainer: Trainer, histories: Mapping[str, History], version: int) -> PublishedModel:
    """Return model ``version`` trained by ``trainer`` on ``histories``, as the leader trains it."""
    trainer.load_histories(histories)
    return trainer.train(trainer.snapshot(), version)


class LiveLists:
    """What the workers send: each user's list folded in after every event, the model retrained on schedule."""

    def __init__(self, rec: Recommender, trainer: Trainer, timeline: Timeline, needed: np.ndarray, k: int) -> None:
        self.rec, self.trainer, self.k = rec, trainer, k
        self.timeline, self.needed = timeline, needed
        self.lists: dict[str, list[str]] = {}
        self.explored: dict[str, list[str]] = {}
        self.trained_at = (0, 0.0)
        self.retrainings = 0
        self.score = Score()
        self.explored_played = self.explored_skipped = 0

    def install(self, model: PublishedModel, position: int) -> None:
        """Rank with ``model`` from event ``position`` on: every list is stale."""
        self.rec.install(model)
        self.lists.clear()
        self.trained_at = (position, float(self.timeline.stamps[position]))

    def due(self, position: int) -> bool:
        """Return True when the trainer would publish a new model before event ``position``."""
        since, at = self.trained_at
        new, elapsed, settings = position - since, self.timeline.stamps[position] - at, self.trainer.settings
        return new > 0 and ((new >= settings.retrain_events and elapsed >= settings.retrain_min_seconds)
                            or elapsed >= settings.retrain_seconds)

    def ranked(self, position: int, user: str, histories: Mapping[str, History],
               skipped: Mapping[str, Skips]) -> list[str]:
        """Return ``user``'s current list, ranking it (with the others needed soon) when stale."""
        if user not in self.lists:
            users = self._needed_from(position)
            for start in range(0, len(users), BATCH_USERS):
                chunk = users[start:start + BATCH_USERS]
                made = self.rec.recommend_many([(u, histories.get(u, {})) for u in chunk], self.k,
                                               skipped=[skipped.get(u, {}) for u in chunk])
                self.lists.update((u, [item.item_id for item in r.items]) for u, r in zip(chunk, made))
                self.explored.update((u, [item.item_id for item in r.items if item.exploration])
                                     for u, r in zip(chunk, made))
        return self.lists[user]

    def feedback(self, user: str, item: str, weight: float) -> None:
        """Count what ``user`` did with ``item`` when it was an exploration pick of their list, and tell the bandit."""
        if item not in self.explored.get(user, ()):
            return
        played = weight > 0
        self.explored_played += played
        self.explored_skipped += not played
        self.rec.judge_exploration(item, played)

    def applied(self, user: str) -> None:
        """Note that ``user`` had an event: their next list is folded in again."""
        self.lists.pop(user, None)
        self.explored.pop(user, None)

    def _needed_from(self, position: int) -> list[str]:
        """Return the users without a list whose next event from ``position`` needs one, before any retraining."""
        users = self.timeline.users
        first: set[str] = set()
        needed: list[str] = []
        for ahead in range(position, min(position + LOOKAHEAD_EVENTS, len(users))):
            if ahead > position and self.due(ahead):
                break
            user = users[ahead]
            if user in first:
                continue
            first.add(user)
            if self.needed[ahead] and user not in self.lists:
                needed.append(user)
                if len(needed) == BATCH_USERS:
                    break
        return needed


class WeeklyLists:
    """A weekly batch system: the model retrained and every list made again at each 7-day boundary only."""

    def __init__(self, rec: Recommender, trainer: Trainer, k: int) -> None:
        self.rec, self.trainer, self.k = rec, trainer, k
        self.lists: dict[str, list[str]] = {}

    def refresh(self, model: PublishedModel, histories: Mapping[str, History], skipped: Mapping[str, Skips]) -> None:
        """Install ``model`` and make every user's list from their history (and skips) now."""
        self.rec.install(model)
        users = list(histories)
        self.lists = {}
        for start in range(0, len(users), BATCH_USERS):
            chunk = users[start:start + BATCH_USERS]
            made = self.rec.recommend_many([(u, histories[u]) for u in chunk], self.k,
                                           skipped=[skipped.get(u, {}) for u in chunk])
            self.lists.update((u, [item.item_id for item in r.items]) for u, r in zip(chunk, made))

    def ranked(self, user: str) -> list[str]:
        """Return ``user``'s list of this week (a newcomer's: the list of an empty history)."""
        if user not in self.lists:
            self.lists[user] = [item.item_id for item in self.rec.recommend(user, {}, self.k).items]
        return self.lists[user]


class PopularLists:
    """The ``k`` items with the most events of positive weight so far that the user never had."""

    def __init__(self, item_ids: Iterable[str], k: int) -> None:
        self.item_ids = list(dict.fromkeys(item_ids))
        self.index = {item: i for i, item in enumerate(self.item_ids)}
        # Counts minus a tie-break by first appearance; -inf until an item is played.
        self.keys = np.full(len(self.item_ids), -np.inf)
        self.tiebreak = np.arange(len(self.item_ids)) / (len(self.item_ids) + 1.0)
        self.k = k

    def played(self, item: str) -> None:
        """Count one event of positive weight on ``item``."""
        i = self.index[item]
        self.keys[i] = (1.0 - self.tiebreak[i]) if np.isinf(self.keys[i]) else self.keys[i] + 1.0

    def ranked(self, history: Mapping[str, float]) -> list[str]:
        """Return the ``k`` most played items not in ``history``, most played first."""
        keys = self.keys.copy()
        keys[[self.index[item] for item in history]] = -np.inf
        count = min(self.k, int(np.isfinite(keys).sum()))
        top = np.argpartition(-keys, count - 1)[:count] if count else np.empty(0, dtype=np.int64)
        return [self.item_ids[i] for i in top[np.argsort(-keys[top])].tolist()]


def evaluate_stream(timeline: Timeline, settings: Settings, tracks: Sequence[Track] = (), k: int = K) -> dict[str, Any]:
    """Return the prequential hit rate and nDCG at ``k`` of the recommender and of the baselines, overall
    and per week, on ``timeline`` (``tracks``: the catalogue, for content and exploration).

    The result: ``{"hit_rate@k", "ndcg@k", "events", "baselines": {"weekly": {...}, "popularity":
    {...}}, "weeks": [{"week", "start", "events", "hit_rate@k", "ndcg@k", "baselines"}], ...}``. When the
    lists explore (the catalogue has audio features), ``"exploration"`` holds the same live run with
    exploration by the bandit and uniformly at random: hit rate, nDCG and how many exploration
    picks the users then played or skipped; else it is None.
    """
    if len(timeline) < 2:
        raise ValueError("a stream evaluation needs at least 2 events (the first half warms up)")
    first = first_events(timeline)
    scored = first & (timeline.weights > 0)
    trainer = Trainer(settings)
    weekly_rec = _recommender(settings, tracks)
    trainer.feed_catalog(weekly_rec.catalog)
    exploring = trainer.clusterer.is_fitted and round(settings.exploration * k) > 0
    policies = [settings.exploration_policy]
    if exploring:
        policies += [p for p in EXPLORATION_POLICIES if p != settings.exploration_policy]
    # Exploration feedback needs the list at every first event, the skipped ones too.
    lives = {policy: LiveLists(_recommender(dataclasses.replace(settings, exploration_policy=policy), tracks),
                               trainer, timeline, first if exploring else scored, k) for policy in policies}
    ours = lives[settings.exploration_policy]
    batch = WeeklyLists(weekly_rec, trainer, k)
    popular = PopularLists(timeline.items.tolist(), k)
    histories: dict[str, History] = {}
    skipped: dict[str, Skips] = {}
    start = len(timeline) // 2
    users, items, weights, stamps = (a.tolist() for a in (timeline.users, timeline.items, timeline.weights,
                                                           timeline.stamps))
    for position in range(start):
        _apply(histories, skipped, popular, users[position], items[position], weights[position], settings.weight_skip)
    version = 1
    model = train(trainer, histories, version)
    for live in lives.values():
        live.install(model, start)
    batch.refresh(model, histories, skipped)
    systems = ("ours", "weekly", "popularity")
    overall = {name: Score() for name in systems}
    weeks: list[dict[str, Score]] = []
    week_of = (np.asarray(stamps[start:]) - stamps[start]) // WEEK_S
    for position in range(start, len(timeline)):
        week = int(week_of[position - start])
        while len(weeks) <= week:
            if weeks:
                version += 1
                batch.refresh(train(trainer, histories, version), histories, skipped)
            weeks.append({name: Score() for name in systems})
        if ours.due(position):
            version += 1
            model = train(trainer, histories, version)
            for live in lives.values():
                live.install(model, position)
                live.retrainings += 1
        user, item, weight = users[position], items[position], weights[position]
        if first[position] and (exploring or scored[position]):
            for live in lives.values():
                ranked = live.ranked(position, user, histories, skipped)
                if scored[position]:
                    live.score.add(ranked, item, k)
                live.feedback(user, item, weight)
        if scored[position]:
            history = histories.get(user, {})
            lists = {"ours": ours.lists[user], "weekly": batch.ranked(user), "popularity": popular.ranked(history)}
            for name, ranked in lists.items():
                overall[name].add(ranked, item, k)
                weeks[week][name].add(ranked, item, k)
        _apply(histories, skipped, popular, user, item, weight, settings.weight_skip)
        for live in lives.values():
            live.applied(user)
    result = _summary(overall, k)
    result["weeks"] = [{"week": n, "start": stamps[start] + n * WEEK_S, **_summary(scores, k)}
                       for n, scores in enumerate(weeks) if scores["ours"].events]
    result["exploration"] = {policy: {**live.score.to_dict(k), "explored_played": live.explored_played,
                                      "explored_skipped": live.explored_skipped}
                             for policy, live in lives.items()} if exploring else None
    result.update(warmup_events=start, retrainings=ours.retrainings, users=len(histories),
                  items=len(popular.item_ids))
    return result


def _recommender(settings: Settings, tracks: Sequence[Track]) -> Recommender:
    rec = Recommender(settings)
    for track in tracks:
        rec.catalog.upsert(track.to_dict())
    return rec


def skips_in(weight: float, weight_skip: float) -> int:
    """Return how many skips an event of ``weight`` is, given the weight of one skip: at least one.

    >>> skips_in(-2.0, -1.0), skips_in(-1.0, -0.5), skips_in(-0.3, -1.0), skips_in(-1.0, 0.0)
    (2, 2, 1, 1)
    """
    return max(1, round(weight / weight_skip)) if weight_skip < 0 else 1


def _apply(histories: dict[str, History], skipped: dict[str, Skips], popular: PopularLists, user: str, item: str,
           weight: float, weight_skip: float) -> None:
    history = histories.setdefault(user, {})
    add_event(history, skipped.setdefault(user, {}), item, weight, skips_in(weight, weight_skip) if weight < 0 else 1)
    if weight > 0:
        popular.played(item)


def _summary(scores: Mapping[str, Score], k: int) -> dict[str, Any]:
    return {**scores["ours"].to_dict(k), "events": scores["ours"].events,
            "baselines": {name: score.to_dict(k) for name, score in scores.items() if name != "ours"}}
