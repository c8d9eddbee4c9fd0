"""Issue 6 as plain functions: controls, explanations, exploration, Discover Weekly, emerging, similar.

A small world with known structure: 360 tracks in six sounds (audio features far apart), 40
listeners who each play two sounds, an ALS trained on them, and every track's catalogue popularity.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from models.explanations import top_contributions
from streamproc.recommend import personalise, playlists
from streamproc.recommend.recommender import Recommender
from streamproc.recommend.training import Trainer
from streamproc.recommend.bandit import ClusterBandit
from streamproc.settings import Settings
from tables.control import Control, Preferences, apply_control
from tables.errors import InvalidMessage
from tables.track import FEATURES
from tests.trained import install_trained, trainer_with

TRACKS, USERS = 360, 40
BANNED = "Banned Artist"
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc).timestamp()
WEEK = 7 * 86400.0


HISTORIES: dict[str, dict[str, float]] = {}


def sound(i: int) -> int:
    return i % 6


def artist(i: int) -> str:
    return BANNED if i % 10 == 0 else f"Artist {i % 37}"


@pytest.fixture(scope="module")
def world() -> Recommender:
    rng = random.Random(6)
    rec = Recommender(Settings(min_train_users=5, als_factors=16, als_iterations=8, clusters=6, cluster_batch=64,
                               exploration=0.1, emerging_popularity=20.0))
    rows = []
    for i in range(TRACKS):
        features = {name: 3.0 * sound(i) + rng.random() for name in FEATURES}
        rec.catalog.upsert({"item_id": f"t{i}", "name": f"Song {i}", "artists": [artist(i)],
                            "popularity": float(i % 60), "features": features})
        rows.append([features[name] for name in FEATURES])
    for u in range(USERS):
        pool = [i for i in range(TRACKS) if sound(i) in (u % 6, (u + 1) % 6)]
        HISTORIES[f"u{u}"] = {f"t{i}": float(1 + k % 3) for k, i in enumerate(rng.sample(pool, 25))}
    install_trained(rec, HISTORIES)
    return rec


def with_controls(rec: Recommender, **states) -> Recommender:
    rec.controls = states
    return rec


@pytest.fixture(autouse=True)
def no_controls(world):
    world.controls = {}
    yield
    world.controls = {}


def history(rec: Recommender, user: str) -> dict[str, float]:
    return dict(HISTORIES[user])


# The control message ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw, reason", [
    (b'{"user_id": "u", "action": "shout"}', "'action' must be one of"),
    (b'{"user_id": "u", "action": "exclude_artist"}', "missing 'artist'"),
    (b'{"user_id": "u", "action": "diversity"}', "needs 'max_per_artist' or 'novelty'"),
    (b'{"user_id": "u", "action": "diversity", "max_per_artist": -1}', "'max_per_artist' must be"),
    (b'{"user_id": "u", "action": "diversity", "novelty": 1.5}', "'novelty' must be between 0 and 1"),
    (b'{"user_id": "u", "action": "playlist", "kind": "weekly"}', "'kind' must be one of"),
    (b'{"action": "opt_out"}', "missing 'user_id'"),
    (b'not json', "not JSON"),
])
def test_a_bad_control_is_refused_with_its_reason(raw, reason):
    with pytest.raises(InvalidMessage, match=reason):
        Control.from_bytes(raw)


def test_control_state_follows_the_controls_in_order_and_ignores_a_redelivery():
    state = apply_control(None, Control("u", "exclude_artist", artist="ABBA"), 0)
    state = apply_control(state, Control("u", "exclude_artist", artist="abba"), 1)
    assert state["excluded_artists"] == ["abba"]
    state = apply_control(state, Control("u", "opt_out"), 2)
    assert apply_control(state, Control("u", "opt_in"), 2)["opted_out"] is True
    state = apply_control(state, Control("u", "include_artist", artist="ABBA"), 3)
    state = apply_control(state, Control("u", "opt_in"), 4)
    assert state["excluded_artists"] == [] and state["opted_out"] is False
    round_trip = Control.from_bytes(Control("u", "diversity", max_per_artist=2).to_bytes())
    assert round_trip.max_per_artist == 2 and round_trip.novelty is None


# Ranking with controls -------------------------------------------------------------------------


def test_an_excluded_artist_never_appears_in_any_list(world):
    with_controls(world, u1={"excluded_artists": [BANNED.upper()]})
    h = history(world, "u1")
    lists = [
        world.recommend("u1", h, n=50).items,
        world.recommend("u1", {}, n=50).items,  # the popular fill
        playlists.emerging(world, "u1", h, 30),
        playlists.next_playlist(world, "u1", h, "discover", None, now=MONDAY)[0]["items"],
    ]
    for items in lists:
        ids = [i.item_id if hasattr(i, "item_id") else i["item_id"] for i in items]
        assert ids and BANNED not in {world.catalog.artists(i)[0] for i in ids}


def test_an_opted_out_user_gets_the_popular_list_of_someone_without_history(world):
    with_controls(world, u2={"opted_out": True})
    opted = world.recommend("u2", history(world, "u2"))
    assert opted.model.kind == "popular" and {i.source for i in opted.items} == {"popular"}
    newcomer = [i.item_id for i in world.recommend("nobody", {}).items if not i.exploration]
    assert [i.item_id for i in opted.items][: len(newcomer)] == newcomer  # and no exploration
    assert not any(i.exploration for i in opted.items)
    assert all(i.explanation == {"kind": "popular", "items": []} for i in opted.items)


def test_diversity_caps_items_per_artist_and_novelty_favours_less_popular_items(world):
    h = history(world, "u3")
    with_controls(world, u3={"max_per_artist": 1})
    artists = [world.catalog.artists(i.item_id)[0] for i in world.recommend("u3", h, n=20).items]
    assert len(artists) == len(set(artists)) == 20
    plain = world.recommend("other", h, n=10, salt="s").items
    with_controls(world, u3={"novelty": 1.0})
    novel = world.recommend("u3", h, n=10, salt="s").items
    mean = lambda items: np.mean([personalise.popularity_of(world, i.item_id) for i in items])  # noqa: E731
    assert mean(novel) < mean(plain)


# Explanations and exploration ------------------------------------------------------------------


def test_every_item_is_explained_by_items_the_user_really_played(world):
    for user in ("u0", "u7", "u13"):
        h = history(world, user)
        items = world.recommend(user, h, n=20).items
        assert all(i.explanation is not None for i in items)
        assert all(set(i.explanation["items"]) <= set(h) for i in items)
        # The default blend: hybrid items, each explained by the part of the blend it owes most.
        assert any(i.explanation["kind"] == "hybrid" and i.explanation["items"] for i in items)
        assert all(i.explanation["part"] in ("als", "ease") for i in items if i.source == "hybrid")


def test_content_explanations_name_the_nearest_favourite(world):
    world.factors, factors = None, world.factors
    try:
        h = history(world, "u4")
        items = world.recommend("u4", h, n=10).items
    finally:
        world.factors = factors
    content = [i for i in items if i.explanation["kind"] == "content"]
    assert content
    for item in content:
        (favourite,) = item.explanation["items"]
        assert favourite in h and sound(int(favourite[1:])) == sound(int(item.item_id[1:]))


def test_batched_als_explanations_match_the_models_explain(world):
    factors = world.factors
    h = history(world, "u5")
    import scipy.sparse as sp

    known = sorted((factors.item_index[i], r) for i, r in h.items())
    cols, vals = zip(*known)
    user_row = sp.csr_matrix((np.array(vals, np.float32), np.array(cols), [0, len(cols)]),
                             shape=(1, len(factors.item_ids)))
    items = [0, 5, 9]
    folded = factors.fold_in([h])
    model = factors.model
    found, values = top_contributions(model.item_factors_, model.item_gram_, folded.weights, folded.reg,
                                      np.array([items]), n=3)
    for column, item in enumerate(items):
        expected = model.explain(user_row, item, n=3)
        assert found[0, column].tolist() == [j for j, _ in expected]
        np.testing.assert_allclose(values[0, column], [v for _, v in expected], rtol=1e-5)


def test_a_batch_ranked_together_equals_each_user_ranked_alone(world):
    users = [(f"u{u}", history(world, f"u{u}")) for u in range(12)] + [("nobody", {}), ("unknown", {"zz": 3.0})]
    together = world.recommend_many(users, n=10)
    for (user_id, h), batched in zip(users, together):
        alone = world.recommend(user_id, h, n=10)
        assert batched.user_id == user_id and batched.model == alone.model
        assert [(i.item_id, i.source, i.explanation, i.exploration) for i in batched.items] == \
            [(i.item_id, i.source, i.explanation, i.exploration) for i in alone.items]
        np.testing.assert_allclose([i.score for i in batched.items], [i.score for i in alone.items], rtol=1e-5)
    assert {r.model.kind for r in together} == {"hybrid", "popular"}


def test_exploration_takes_its_share_from_clusters_the_user_never_plays(world):
    h = history(world, "u6")
    _, index, _, labels = world.content_view()
    usual = {int(labels[index[i]]) for i in h}
    items = world.recommend("u6", h, n=20, salt="week").items
    explored = [i for i in items if i.exploration]
    assert len(explored) == 2 and items[-2:] == explored
    assert all(int(labels[index[i.item_id]]) not in usual for i in explored)
    assert all(i.explanation["kind"] == "exploration" for i in explored)
    assert [i.item_id for i in world.recommend("u6", h, n=20, salt="week").items] == [i.item_id for i in items]


def test_a_skipped_recommended_item_is_gone_from_the_users_next_lists_when_the_penalty_means_never(world):
    # Penalty 1 (never again), as every skip was before STREAMPROC_SKIP_PENALTY: the skipped item is
    # left out like a played one, and the fold-in reads only positive confidences, so nothing else moves.
    h = history(world, "u6")
    before = world.recommend("u6", h, n=20, salt="week", skipped={}).items
    skipped = next(i.item_id for i in before if not i.exploration)
    world.skip_penalty = 1.0
    try:
        after = world.recommend("u6", {**h, skipped: -1.0}, n=20, salt="week", skipped={skipped: 1}).items
    finally:
        world.skip_penalty = world.settings.skip_penalty

    assert skipped not in {i.item_id for i in after}
    assert [i.item_id for i in after if not i.exploration][:5] == \
        [i.item_id for i in before if not i.exploration and i.item_id != skipped][:5]


LONG = 40


def test_a_skipped_als_item_moves_down_but_stays_and_more_skips_lower_it_further(world):
    assert world.skip_penalty == 0.5
    h = history(world, "u6")
    # A long list: the blend's scores lie close together, so a skipped top item can fall past the 20th place.
    before = world.recommend("u6", h, n=LONG, salt="week", skipped={}).items
    top = before[0]
    assert top.source == world.factors.source and not top.exploration
    lists = {k: world.recommend("u6", {**h, top.item_id: -float(k)}, n=LONG, salt="week",
                                skipped={top.item_id: k}).items for k in (1, 2)}
    # Where the item is (LONG: beyond the list) and its score.
    found = {k: next(((p, i.score) for p, i in enumerate(items) if i.item_id == top.item_id), (LONG, None))
             for k, items in lists.items()}
    (once_at, once), (twice_at, _) = found[1], found[2]
    assert 0 < once_at < LONG - len([i for i in before if i.exploration]) and once_at < twice_at
    # One skip halves the height above the weakest of the candidates, which is below every listed item.
    assert once < top.score and 2 * once - top.score < min(i.score for i in before if not i.exploration)
    lowered = lists[1][once_at]
    assert (lowered.source, lowered.explanation) == (top.source, top.explanation)
    assert set(lowered.explanation["items"]) <= {item for item, r in h.items() if r > 0}
    # The others keep their order, the exploration picks too.
    others = [i.item_id for i in before[1:] if not i.exploration]
    for items in lists.values():
        assert [i.item_id for i in items if i.item_id != top.item_id and not i.exploration][:len(others)] == others
        assert [i for i in items if i.exploration] == [i for i in before if i.exploration]


def test_a_skipped_content_item_moves_down_but_stays(world):
    # Content candidates lie close at the top and far apart at the bottom: a small penalty already moves one.
    rec = Recommender(dataclasses.replace(world.settings, min_train_users=10_000, skip_penalty=0.1))
    rec.catalog = world.catalog
    install_trained(rec, HISTORIES)
    h = history(rec, "u6")
    before = rec.recommend("u6", h, n=20, salt="week", skipped={})
    top = before.items[0]
    after = rec.recommend("u6", {**h, top.item_id: -1.0}, n=20, salt="week", skipped={top.item_id: 1})
    assert before.model.kind == after.model.kind == "content"
    position, lowered = next((p, i) for p, i in enumerate(after.items) if i.item_id == top.item_id)
    assert 0 < position < 18 and lowered.score < top.score
    assert lowered.explanation == top.explanation and set(lowered.explanation["items"]) <= set(h)
    assert [i.item_id for i in after.items if i.item_id != top.item_id and not i.exploration] == \
        [i.item_id for i in before.items[1:] if not i.exploration][:17]


def test_a_skipped_exploration_pick_is_drawn_again_with_chance_one_minus_the_penalty(world):
    h = history(world, "u6")
    salts = [f"week {n}" for n in range(60)]
    picks = {salt: next(i.item_id for i in world.recommend("u6", h, n=20, salt=salt).items if i.exploration)
             for salt in salts}

    def kept(penalty: float) -> int:
        world.skip_penalty = penalty
        try:
            return sum(pick in {i.item_id for i in world.recommend("u6", {**h, pick: -1.0}, n=20, salt=salt,
                                                                   skipped={pick: 1}).items}
                       for salt, pick in picks.items())
        finally:
            world.skip_penalty = world.settings.skip_penalty

    assert kept(0.0) == len(salts) and kept(1.0) == 0
    assert 0.3 * len(salts) < kept(0.5) < 0.7 * len(salts)


def test_a_bandit_explores_the_cluster_where_explored_items_were_played_and_not_those_skipped(world):
    h = history(world, "u6")
    _, index, _, labels = world.content_view()
    usual = {int(labels[index[i]]) for i in h}
    paying, *others = sorted(set(labels.tolist()) - usual)
    bandit = ClusterBandit()
    for _ in range(40):
        bandit.observe(paying, played=True)
        for cluster in others:
            bandit.observe(cluster, played=False)
    world.bandit = bandit
    try:
        lists = [world.recommend("u6", h, n=20, salt=f"week {n}").items for n in range(5)]
    finally:
        world.bandit = None
    explored = [i for items in lists for i in items if i.exploration]
    assert len(explored) == 10
    assert {int(labels[index[i.item_id]]) for i in explored} == {paying}
    uniform = [i for n in range(5) for i in world.recommend("u6", h, n=20, salt=f"week {n}").items if i.exploration]
    assert len({int(labels[index[i.item_id]]) for i in uniform}) > 1


# Discover Weekly and emerging ------------------------------------------------------------------


def test_discover_has_thirty_distinct_unplayed_items_and_no_repeat_within_four_weeks(world):
    h = history(world, "u8")
    record, weeks = None, []
    for week in range(5):
        now = MONDAY + week * WEEK
        message, record = playlists.next_playlist(world, "u8", h, "discover", record, now=now)
        ids = [i["item_id"] for i in message["items"]]
        assert message["kind"] == "discover" and len(ids) == len(set(ids)) == 30
        assert not set(ids) & set(h)
        assert all(set(ids).isdisjoint(previous) for previous in weeks[-3:])
        weeks.append(set(ids))
        again, same = playlists.next_playlist(world, "u8", h, "discover", record, now=now + 3 * 86400)
        assert again == message and same == record
    assert len(record["discover"]["entries"]) == 4  # older than 28 days is forgotten


def test_weekly_playlists_lower_an_item_the_user_only_skipped_instead_of_leaving_it_out(world):
    h = history(world, "u9")
    top = playlists.next_playlist(world, "u9", h, "discover", None, now=MONDAY, skipped={})[0]["items"][0]
    skipped_once = {**h, top["item_id"]: -1.0}
    lowered = playlists.next_playlist(world, "u9", skipped_once, "discover", None, now=MONDAY,
                                      skipped={top["item_id"]: 1})[0]["items"]
    at = [i["item_id"] for i in lowered].index(top["item_id"])
    assert at > 0 and lowered[at]["score"] < top["score"]
    without_counts = playlists.next_playlist(world, "u9", skipped_once, "discover", None, now=MONDAY)[0]["items"]
    assert top["item_id"] not in {i["item_id"] for i in without_counts}
    first = playlists.emerging(world, "u9", h, 30)[0]
    world.skip_penalty = 0.1
    try:
        emerging = playlists.emerging(world, "u9", {**h, first.item_id: -1.0}, 30, skipped={first.item_id: 1})
    finally:
        world.skip_penalty = world.settings.skip_penalty
    at = [i.item_id for i in emerging].index(first.item_id)
    assert at > 0 and emerging[at].score < first.score and emerging[at].explanation == first.explanation


def test_emerging_holds_only_items_under_the_threshold_near_the_users_sound(world):
    h = history(world, "u9")
    items = playlists.emerging(world, "u9", h, 30)
    assert len(items) == 30 and not {i.item_id for i in items} & set(h)
    assert all(world.catalog.popularity(i.item_id) < 20 for i in items)
    mine = {sound(int(i[1:])) for i in h}
    close = [i for i in items if not i.exploration]
    assert sum(sound(int(i.item_id[1:])) in mine for i in close) >= 0.8 * len(close)
    assert all(set(i.explanation["items"]) <= set(h) for i in items)


def test_a_period_starts_at_the_last_firing_of_the_cron_in_its_time_zone():
    paris = ZoneInfo("Europe/Paris")
    sunday_night_utc = datetime(2026, 11, 22, 23, 30, tzinfo=timezone.utc).timestamp()  # Monday 00:30 Paris
    assert playlists.period_start("0 0 * * 1", paris, sunday_night_utc) == "2026-11-23T00:00:00+01:00"
    assert playlists.period_start("0 0 * * 1", timezone.utc, sunday_night_utc) == "2026-11-16T00:00:00+00:00"


# Similar items and the global view -------------------------------------------------------------


def test_similar_items_come_from_both_models_and_name_other_artists(world):
    found = playlists.similar(world, "t7", n=5)
    assert {i["source"] for i in found["items"]} == {"als", "content"}
    assert all(sound(int(i["item_id"][1:])) == sound(7) for i in found["items"] if i["source"] == "content")
    assert found["similar_artists"] and artist(7) not in {a["artist"] for a in found["similar_artists"]}
    assert playlists.similar(world, "no-such-item") is None


def test_opted_out_users_leave_training_and_popularity_until_they_opt_in(world):
    trainer = trainer_with(world, {"a": {"x": 1.0}, "b": {"x": 2.0, "y": 1.0}})
    trainer.set_opted_out("b", True)
    snapshot = trainer.snapshot()
    assert [user for user, _ in snapshot.histories] == ["a"]
    model = trainer.train(snapshot, version=2)
    assert dict(zip(model.item_ids, model.popularity.tolist())) == {"x": 1}
    trainer.set_opted_out("b", False)
    assert sorted(user for user, _ in trainer.snapshot().histories) == ["a", "b"]


def test_a_forgotten_user_is_gone_and_their_earlier_events_stay_void():
    trainer = Trainer(Settings())
    trainer.apply(0, "b", "x", "play", 1, offset=4)
    trainer.forget(0, "b", through=6)
    assert not trainer.apply(0, "b", "y", "play", 1, offset=5)  # read after the marker, but older
    assert trainer.apply(0, "b", "z", "play", 1, offset=7)
    assert trainer.snapshot().histories == [("b", {"z": 1.0})] and trainer.total_events == 1


def test_preferences_of_no_state_change_nothing():
    assert Preferences.from_state(None) == Preferences()


def test_a_user_leaving_or_rejoining_training_asks_for_a_new_model(world):
    trainer = trainer_with(world, HISTORIES)
    assert trainer.due()
    trainer.train(trainer.snapshot(), version=2)
    assert not trainer.due()
    trainer.set_opted_out("u1", True)
    assert trainer.due()
    trainer.snapshot()
    assert not trainer.due()
    trainer.set_opted_out("u1", False)
    assert trainer.due()
    trainer.snapshot()
    trainer.forget(0, "u2", through=0)
    assert trainer.due()
