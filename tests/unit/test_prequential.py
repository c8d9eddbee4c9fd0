"""The prequential stream evaluation: known answers on hand-made timelines, the baselines, the schedule, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.split import Timeline, read_timeline
from streamproc.cli import main
from streamproc.recommend.prequential import WEEK_S, PopularLists, evaluate_stream
from streamproc.settings import Settings
from streamproc.simulator import generate_catalogue, make_listeners, simulate_drifting_listens

HOUR = 3600.0
GROUP_A = [f"a{i}" for i in range(12)]
GROUP_B = [f"b{i}" for i in range(10)]
# No retraining after the warm-up unless a test asks for it: what is judged is the fold-in.
SETTINGS = Settings(min_train_users=2, als_factors=4, als_iterations=10, exploration=0.0,
                    retrain_events=10**9, retrain_seconds=1e12)


def timeline_of(rows: list[tuple[str, str, float, float]]) -> Timeline:
    users, items, weights, stamps = zip(*rows)
    return Timeline(np.array(users, dtype=object), np.array(items, dtype=object),
                    np.array(weights, dtype=float), np.array(stamps, dtype=float))


def two_tastes(newcomer_at: list[float]) -> Timeline:
    """Six listeners of group A and three of group B warm up; then a newcomer plays b0, b1, ... at
    ``newcomer_at`` among repeats of old plays (judged by nobody), as many as the warm-up's events."""
    warmup = [(f"a-fan{u}", item, 1.0) for u in range(6) for item in GROUP_A]
    warmup += [(f"b-fan{u}", item, 1.0) for u in range(3) for item in GROUP_B]
    rows = [(user, item, weight, n * HOUR) for n, (user, item, weight) in enumerate(warmup)]
    start = len(rows) * HOUR
    repeats = len(rows) - len(newcomer_at)
    rows += [("a-fan0", "a0", 1.0, start + n * HOUR / 10) for n in range(repeats)]
    rows += [("newcomer", item, 1.0, start + at) for item, at in zip(GROUP_B, newcomer_at)]
    return timeline_of(sorted(rows, key=lambda row: row[3]))


def test_a_list_folded_in_after_each_event_finds_the_certain_next_item_and_the_weekly_one_does_not():
    # After b0 the newcomer's next item is certain to be another of group B, and only 9 are left:
    # the folded-in top 10 holds all of them. The weekly list, made before the newcomer came, is
    # group A's, as is popularity's (6 listeners against 3).
    result = evaluate_stream(two_tastes([n * HOUR for n in range(10)]), SETTINGS)

    assert result["events"] == 10
    assert result["hit_rate@10"] == pytest.approx(0.9)
    assert 0 < result["ndcg@10"] <= result["hit_rate@10"]
    assert result["baselines"]["weekly"] == {"hit_rate@10": 0.0, "ndcg@10": 0.0}
    assert result["baselines"]["popularity"] == {"hit_rate@10": 0.0, "ndcg@10": 0.0}
    assert result["retrainings"] == 0
    assert [week["week"] for week in result["weeks"]] == [0]


def test_the_weekly_lists_catch_up_at_the_next_seven_day_boundary():
    # b0 in the first week; b1..b9 in the second, after the weekly lists were made again from b0.
    result = evaluate_stream(two_tastes([0.0] + [WEEK_S + n * HOUR for n in range(1, 10)]), SETTINGS)

    weeks = {week["week"]: week for week in result["weeks"]}
    assert sorted(weeks) == [0, 1]
    assert weeks[0]["events"] == 1 and weeks[0]["baselines"]["weekly"]["hit_rate@10"] == 0.0
    assert weeks[1]["events"] == 9
    assert weeks[1]["hit_rate@10"] == weeks[1]["baselines"]["weekly"]["hit_rate@10"] == 1.0
    assert weeks[1]["baselines"]["popularity"]["hit_rate@10"] == 0.0


def test_retraining_is_counted_in_event_time_and_events():
    timeline = two_tastes([n * HOUR for n in range(10)])
    judged_from = len(timeline) // 2
    by_events = evaluate_stream(timeline, Settings(**{**SETTINGS.__dict__, "retrain_events": 20}))
    # The judged half spans about 10 hours of event time.
    by_time = evaluate_stream(timeline, Settings(**{**SETTINGS.__dict__, "retrain_seconds": 3 * HOUR}))

    assert by_events["retrainings"] == (len(timeline) - judged_from - 1) // 20
    assert by_time["retrainings"] == 3
    # Retrained on the newcomer's plays or folded in, the certain items are found all the same.
    assert by_events["hit_rate@10"] == by_time["hit_rate@10"] == pytest.approx(0.9)


def test_popularity_ranks_the_most_played_items_the_user_never_had():
    popular = PopularLists(["x", "y", "z", "w"], k=2)
    for item in ["y", "z", "z", "x", "y", "z"]:
        popular.played(item)

    assert popular.ranked({}) == ["z", "y"]
    assert popular.ranked({"z": 1.0}) == ["y", "x"]
    assert popular.ranked({"z": 1.0, "y": -1.0, "x": 2.0}) == []


def write_timeline(path, rows, header="user\titem\tweight\ttimestamp"):
    path.write_text("\n".join([header, *("\t".join(map(str, row)) for row in rows)]) + "\n")
    return path


def test_the_cli_prints_the_issues_json_shape(tmp_path, capsys, monkeypatch):
    timeline = two_tastes([n * HOUR for n in range(10)])
    path = write_timeline(tmp_path / "t.tsv", zip(timeline.users, timeline.items, timeline.weights, timeline.stamps))
    assert read_timeline(path).items.tolist() == timeline.items.tolist()
    # The command reads the settings of the environment; these are the tests'.
    monkeypatch.setattr("streamproc.settings.settings", SETTINGS)

    assert main(["evaluate", "--stream", "--interactions", str(path), "--format", "tsv", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)

    assert {"hit_rate@10", "ndcg@10", "events", "baselines", "weeks"} <= set(result)
    assert set(result["baselines"]) == {"weekly", "popularity"}
    assert set(result["baselines"]["weekly"]) == {"hit_rate@10", "ndcg@10"}
    assert result["events"] == 10 and result["hit_rate@10"] == pytest.approx(0.9)
    assert main(["evaluate", "--stream", "--interactions", str(path), "--format", "tsv"]) == 0
    assert "vs weekly" in capsys.readouterr().out


@pytest.mark.parametrize("text, message", [
    ("user\titem\tweight\nu\ta\t1\n", "expected 4 tab-separated columns (user, item, weight, timestamp), found 3"),
    ("u\ti\tw\tt\nu\ta\t1\t5\nu\tb\tone\t6\n", "data row 2 lacks a field or its weight or timestamp is not a number"),
    ("u\ti\tw\tt\nu\ta\t1\tnoon\n", "data row 1"),
    ("", "no interactions"),
    ("u\ti\tw\tt\n", "no interactions"),
    ("u\ti\tw\tt\nu\ta\t1\t5\n", "at least 2 events"),
])
def test_a_file_the_cli_cannot_replay_is_one_line_and_non_zero(tmp_path, capsys, text, message):
    (tmp_path / "bad.tsv").write_text(text)

    assert main(["evaluate", "--stream", "--interactions", str(tmp_path / "bad.tsv"), "--format", "tsv"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_lastfm_cannot_be_replayed_in_time_order(tmp_path, capsys):
    (tmp_path / "user_artists.dat").write_text("userID\tartistID\tweight\n2\t51\t10\n")

    assert main(["evaluate", "--stream", "--interactions", str(tmp_path / "user_artists.dat")]) == 1
    assert "Last.fm 2k has no listening timestamps" in capsys.readouterr().err


def test_with_audio_features_the_evaluation_also_runs_the_other_exploration_policy():
    catalogue = generate_catalogue(120, seed=4)
    events = list(simulate_drifting_listens(catalogue, make_listeners(catalogue, 30, seed=4), 1500, weeks=2, seed=4))
    weights = Settings().event_weights()
    timeline = timeline_of([(e.user_id, e.item_id, weights[e.event] * e.count, e.ts) for e in events])
    settings = Settings(min_train_users=2, als_factors=4, als_iterations=3, clusters=4, retrain_seconds=86400.0,
                        exploration_policy="thompson")

    result = evaluate_stream(timeline, settings, catalogue.tracks)

    assert set(result["exploration"]) == {"thompson", "uniform"}
    ours = result["exploration"]["thompson"]
    assert (ours["hit_rate@10"], ours["ndcg@10"]) == (result["hit_rate@10"], result["ndcg@10"])
    assert all(e["explored_played"] >= 0 and e["explored_skipped"] >= 0 for e in result["exploration"].values())
    assert evaluate_stream(timeline, settings)["exploration"] is None
