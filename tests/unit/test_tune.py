"""Tuning: the search sees only fitting and validation, the test split is scored once at the end; the CLI."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import scipy.sparse as sp

import models.tuning as tuning
from models.metrics import evaluate_ranking
from models.split import holdout_split
from models.tuning import choose_blend, search, tune
from streamproc.cli import main


def block_matrix(seed: int = 0, users: int = 60, items: int = 40, blocks: int = 4) -> sp.csr_matrix:
    """Return users who play most items of their block (user mod blocks), a few plays elsewhere."""
    rng = np.random.default_rng(seed)
    size = items // blocks
    own = (np.arange(items)[None, :] // size) == (np.arange(users)[:, None] % blocks)
    played = np.where(own, rng.random((users, items)) < 0.7, rng.random((users, items)) < 0.03)
    return sp.csr_matrix(played * rng.integers(1, 50, size=(users, items)).astype(float))


def write_tsv(path, matrix: sp.csr_matrix):
    coo = matrix.tocoo()
    lines = ["user\titem\tweight"] + [f"u{u}\ti{i}\t{int(w)}" for u, i, w in zip(coo.row, coo.col, coo.data)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def split():
    return holdout_split(block_matrix(), seed=42)


class Watched(sp.csr_matrix):
    """A CSR matrix that notes every attribute read once armed, to show when the test split is first read."""

    def arm(self, events: list[str]) -> "Watched":
        object.__setattr__(self, "_events", events)
        return self

    def __getattribute__(self, name):
        events = object.__getattribute__(self, "__dict__").get("_events")
        if events is not None:
            events.append("test read")
        return super().__getattribute__(name)


def test_search_takes_no_test_split():
    parameters = list(inspect.signature(search).parameters)
    assert parameters[:2] == ["fitting", "validation"]
    assert not any("test" in name for name in parameters)


def test_the_test_split_is_read_once_after_the_search_and_the_refit(split, monkeypatch):
    train, test = split
    events: list[str] = []
    watched = Watched(test)
    real_search, real_refit, real_evaluate = tuning.search, tuning.fit_scorer, tuning.evaluate_ranking

    def recorded_search(*args, **kwargs):
        found = real_search(*args, **kwargs)
        events.append("search done")
        return found

    def recorded_refit(*args, **kwargs):
        score_users = real_refit(*args, **kwargs)
        events.append("refit done")
        return score_users

    def recorded_evaluate(score_users, train_part, held_out, **kwargs):
        events.append("evaluate test" if held_out is watched else "evaluate validation")
        return real_evaluate(score_users, train_part, held_out, **kwargs)

    monkeypatch.setattr(tuning, "search", recorded_search)
    monkeypatch.setattr(tuning, "fit_scorer", recorded_refit)
    monkeypatch.setattr(tuning, "evaluate_ranking", recorded_evaluate)
    tuned = tune(train, watched.arm(events), budget=2, seed=1, threads=1)
    first_read = events.index("test read")
    assert events.count("evaluate test") == 1
    assert events.index("search done") < events.index("refit done") < events.index("evaluate test") < first_read
    assert "evaluate validation" not in events[events.index("evaluate test"):]
    # Each setting of the 3 models (2 drawn, up to 2 local steps), then for the 2 best settings of each item
    # model 2 normalisations x 11 weights
    settings = [t for t in tuned.search.trials if t.family != "hybrid"]
    assert 3 * 3 <= len(settings) <= 3 * 4
    assert events.count("evaluate validation") == len(settings) + 2 * 2 * 2 * 11
    object.__setattr__(watched, "_events", None)
    assert 0 < tuned.test["ndcg@10"] <= 1


def test_the_choice_does_not_depend_on_the_test_split(split):
    train, test = split
    other = sp.csr_matrix(np.random.default_rng(5).random(test.shape) < 0.05, dtype=float)
    first, second = (tune(train, held_out, budget=2, seed=3, threads=1) for held_out in (test, other))
    assert [(t.family, t.params, t.metrics) for t in first.search.trials] == \
        [(t.family, t.params, t.metrics) for t in second.search.trials]
    assert (first.winner.family, first.winner.params) == (second.winner.family, second.winner.params)
    assert first.test != second.test


def test_the_blend_weight_comes_from_validation(split):
    train, test = split
    fitting, validation = holdout_split(train, seed=43)
    rng = np.random.default_rng(0)
    oracle_scores = validation.toarray() + 0.01 * rng.random(validation.shape)
    noise_scores = rng.random(validation.shape)
    oracle = lambda users: oracle_scores[users]  # noqa: E731
    noise = lambda users: noise_scores[users]  # noqa: E731
    best = evaluate_ranking(oracle, fitting, validation)["ndcg@10"]
    assert best > evaluate_ranking(noise, fitting, validation)["ndcg@10"] + 0.3
    weight, _, metrics = choose_blend(oracle, noise, fitting, validation)
    assert weight > 0.5 and metrics["ndcg@10"] == pytest.approx(best)
    weight, _, metrics = choose_blend(noise, oracle, fitting, validation)
    assert weight < 0.5 and metrics["ndcg@10"] == pytest.approx(best)
    # An oracle of another split is no oracle on validation: its weight falls.
    test_oracle = lambda users: test.toarray()[users] + 0.01 * rng.random((len(users), test.shape[1]))  # noqa: E731
    assert choose_blend(test_oracle, oracle, fitting, validation)[0] < 0.5


def test_search_is_seeded_and_starts_from_the_defaults(split):
    train, _ = split
    fitting, validation = holdout_split(train, seed=43)
    first = search(fitting, validation, budget=3, seed=7, threads=1)
    again = search(fitting, validation, budget=3, seed=7, threads=1)
    other = search(fitting, validation, budget=3, seed=8, threads=1)
    assert [t.params for t in first.trials] == [t.params for t in again.trials]
    assert [t.params for t in first.trials] != [t.params for t in other.trials]
    families = [t.family for t in first.trials]
    defaults = {family: first.trials[families.index(family)].params for family in ("als", "ease", "rp3beta")}
    assert defaults == {"als": {"factors": 64, "regularization": 0.05, "regularization_mode": "weighted",
                                "alpha": 1.0, "confidence": "log1p"},
                        "ease": {"regularization": 100.0, "neighbours": 200},
                        "rp3beta": {"alpha": 0.8, "beta": 0.2, "neighbours": 200}}
    assert families == sorted(families, key=["als", "ease", "rp3beta", "hybrid"].index)
    assert families.count("hybrid") == 4 and all(4 <= families.count(f) <= 6 for f in ("als", "ease", "rp3beta"))
    for family in ("als", "ease", "rp3beta"):
        # After 3 drawn settings, each step tries a neighbour of the best so far, never one tried before.
        trials = [t for t in first.trials if t.family == family]
        for step in range(3, len(trials)):
            best = max(trials[:step], key=lambda t: t.score)
            assert trials[step].params in tuning.neighbourhood(family, best.params)
            assert trials[step].params not in [t.params for t in trials[:step]]
    # The best ALS blended with the two best settings of each item model, the best blend kept.
    hybrids = first.trials[-4:]
    assert [t.params["item"] for t in hybrids] == ["ease", "ease", "rp3beta", "rp3beta"]
    for family, pair in (("ease", hybrids[:2]), ("rp3beta", hybrids[2:])):
        ranked = sorted((t for t in first.trials if t.family == family), key=lambda t: -t.score)
        assert [t.params[family] for t in pair] == [t.params for t in ranked[:2]]
    assert first.best["hybrid"].score == max(t.score for t in hybrids)
    for family in ("als", "ease", "rp3beta"):
        assert first.best[family].score == max(t.score for t in first.trials if t.family == family)
    assert first.winner.score == max(t.score for t in first.best.values())
    hybrid = first.best["hybrid"].params
    assert hybrid["als"] == first.best["als"].params
    assert hybrid[hybrid["item"]] in [t.params for t in first.trials if t.family == hybrid["item"]]


def test_search_without_als_makes_no_hybrid(split):
    train, _ = split
    fitting, validation = holdout_split(train, seed=43)
    found = search(fitting, validation, budget=1, families=("ease",))
    assert set(found.best) == {"ease"} and found.winner.family == "ease"


@pytest.mark.parametrize("kwargs, message", [({"budget": 0}, "budget"), ({"families": ("knn",)}, "families"),
                                             ({"families": ()}, "families")])
def test_search_refuses_bad_arguments(split, kwargs, message):
    train, test = split
    with pytest.raises(ValueError, match=message):
        search(train, test, **kwargs)


def test_tune_json_on_a_generated_tsv(tmp_path, capsys):
    path = write_tsv(tmp_path / "plays.tsv", block_matrix(seed=1))
    assert main(["tune", "--interactions", str(path), "--format", "tsv", "--budget", "2", "--threads", "1",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 3 * 3 + 4 <= len(result["trials"]) <= 3 * 4 + 4
    assert set(result["best"]) == {"als", "ease", "rp3beta", "hybrid"}
    winner = result["winner"]
    assert winner["validation"]["ndcg@10"] == max(best["validation"]["ndcg@10"] for best in result["best"].values())
    assert winner["test"]["ndcg@10"] > 0.5
    sizes = result["sizes"]
    assert sizes["fitting"] + sizes["validation"] == sizes["train"] and sizes["test"] > 0


def test_tune_prints_a_table_with_the_best_setting(tmp_path, capsys):
    path = write_tsv(tmp_path / "plays.tsv", block_matrix(seed=2))
    assert main(["tune", "--interactions", str(path), "--format", "tsv", "--budget", "1", "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert "validation P@10" in captured.out and "best: " in captured.out
    assert "test        P@10" in captured.out and "scored once" in captured.out
    assert captured.err.count("validation nDCG@10") == 3 * 2 + 4   # progress: 3 models (a draw, a step), 4 blends


@pytest.mark.parametrize("name, fmt, message", [("missing.dat", "lastfm", "missing.dat"),
                                                ("x.csv", "tsv", "3 tab-separated columns")])
def test_tune_a_wrong_path_or_format_is_one_line_and_non_zero(tmp_path, capsys, name, fmt, message):
    (tmp_path / "x.csv").write_text("a,b,c\n1,2,3\n")
    assert main(["tune", "--interactions", str(tmp_path / name), "--format", fmt]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_tune_a_bad_budget_is_one_line_and_non_zero(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["tune", "--interactions", str(tmp_path / "x.dat"), "--budget", "0"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--budget" in err


@pytest.mark.parametrize("model", ["served", "ease", "rp3beta", "hybrid"])
def test_evaluate_model_option_ranks_the_blocks(tmp_path, capsys, model):
    path = write_tsv(tmp_path / "plays.tsv", block_matrix(seed=4))
    assert main(["evaluate", "--interactions", str(path), "--format", "tsv", "--json", "--model", model,
                 "--factors", "4", "--iterations", "5", "--threads", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == model
    assert result["popularity"]["precision@10"] < result["precision@10"] and result["ndcg@10"] > 0.5


def test_evaluate_model_option_in_the_table_and_a_bad_weight(tmp_path, capsys):
    path = write_tsv(tmp_path / "plays.tsv", block_matrix(seed=4))
    assert main(["evaluate", "--interactions", str(path), "--format", "tsv", "--model", "hybrid",
                 "--weight", "0.3", "--normalise", "rank", "--factors", "4", "--iterations", "3"]) == 0
    out = capsys.readouterr().out
    assert "hybrid: 0.3 x ALS + 0.7 x EASE, rank-normalised" in out and "EASE: lambda=100.0" in out
    assert main(["evaluate", "--interactions", str(path), "--format", "tsv", "--model", "hybrid",
                 "--weight", "1.5"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
