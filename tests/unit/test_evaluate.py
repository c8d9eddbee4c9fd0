"""The evaluation protocol: reading interaction files, the hold-out split, the metrics and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from models.metrics import (average_precision_at_k, evaluate_ranking, ndcg_at_k, precision_at_k,
                            recall_at_k)
from models.split import holdout_split, read_interactions
from streamproc.cli import main


def write_plays(path, rows, header=True):
    lines = (["user\titem\tweight"] if header else []) + ["\t".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_lastfm_sorts_numeric_ids_and_sums_duplicates(tmp_path):
    path = tmp_path / "user_artists.dat"
    path.write_bytes(b"userID\tartistID\tweight\r\n10\t7\t5\r\n2\t7\t1\r\n2\t30\t4\r\n2\t30\t1\r\n")
    data = read_interactions(path, "lastfm")
    assert data.user_ids.tolist() == [2, 10] and data.item_ids.tolist() == [7, 30]
    assert data.matrix.toarray().tolist() == [[1.0, 5.0], [5.0, 0.0]]


def test_read_tsv_without_header_and_with_string_ids(tmp_path):
    data = read_interactions(write_plays(tmp_path / "p.tsv", [("bob", "x", 2), ("al", "y", 1)], header=False), "tsv")
    assert data.user_ids.tolist() == ["al", "bob"]
    assert data.matrix.toarray().tolist() == [[0.0, 1.0], [2.0, 0.0]]


@pytest.mark.parametrize("text, message", [("a\tb\n", "3 tab-separated columns"),
                                           ("u\ti\tw\n1\t2\t1\n1\t2\t-3\n", "data row 2 .*non-negative"),
                                           ("u\ti\tw\n1\t2\tmany\n", "non-negative"),
                                           ("u\ti\tw\n1\t\t3\n", "lacks a field"),
                                           ("u\ti\tw\n", "no interactions")])
def test_read_refuses_malformed_files(tmp_path, text, message):
    (tmp_path / "bad.tsv").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_interactions(tmp_path / "bad.tsv", "tsv")


def test_split_holds_out_the_first_fifth_of_one_permutation_per_eligible_user():
    # User 0: 5 items -> 1 held out; user 1: 4 items -> none, and draws nothing; user 2: 10 -> 2.
    plays = sp.csr_matrix(np.array([
        [1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1],
    ], dtype=float))
    rng = np.random.default_rng(42)
    held_0 = np.array([0, 1, 2, 3, 4])[rng.permutation(5)[:1]]
    held_2 = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10])[rng.permutation(10)[:2]]
    train, test = holdout_split(plays, seed=42)
    assert sorted(test[0].indices.tolist()) == sorted(held_0.tolist())
    assert test[1].nnz == 0 and train[1].nnz == 4
    assert sorted(test[2].indices.tolist()) == sorted(held_2.tolist())
    assert (train + test != plays).nnz == 0
    assert train.multiply(test).nnz == 0
    np.testing.assert_array_equal(test[0].data, plays[0, held_0].toarray().ravel())


def test_split_is_deterministic_per_seed():
    plays = sp.random(30, 50, density=0.3, random_state=0, format="csr")
    first, second = holdout_split(plays, seed=3)[1], holdout_split(plays, seed=3)[1]
    assert (first != second).nnz == 0
    assert (first != holdout_split(plays, seed=4)[1]).nnz > 0


def test_metrics_on_a_hand_computed_ranking():
    recommended = np.array([7, 3, 9, 1])
    relevant = {3, 1, 5}
    assert precision_at_k(recommended, relevant, k=4) == 0.5
    assert recall_at_k(recommended, relevant, k=4) == pytest.approx(2 / 3)
    assert average_precision_at_k(recommended, relevant, k=4) == pytest.approx((1 / 2 + 2 / 4) / 3)
    dcg = 1 / np.log2(3) + 1 / np.log2(5)
    idcg = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert ndcg_at_k(recommended, relevant, k=4) == pytest.approx(dcg / idcg)


def test_map_divides_by_k_when_there_are_more_relevant_items_than_k():
    assert average_precision_at_k(np.array([1, 2]), {1, 2, 3, 4}, k=2) == 1.0


def test_evaluate_ranking_skips_seen_and_never_trained_items():
    train = sp.csr_matrix(np.array([[1.0, 1, 0, 0], [0, 1, 1, 0]]))
    test = sp.csr_matrix(np.array([[0, 0, 1.0, 0], [0, 0, 0, 0]]))
    # Item 3 has no training interaction and items 0, 1 are user 0's: only item 2 can be ranked.
    scores = lambda users: np.tile([9.0, 8.0, 1.0, 10.0], (len(users), 1))  # noqa: E731
    assert evaluate_ranking(scores, train, test, k=1)["precision@1"] == 1.0


def block_plays(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{item}", int(rng.integers(1, 50)))
            for u in range(60) for item in range(40) if item // 10 == u % 4 and rng.random() < 0.8]
    return write_plays(tmp_path / "plays.tsv", rows)


def test_evaluate_json_on_a_generated_tsv(tmp_path, capsys):
    path = block_plays(tmp_path)
    status = main(["evaluate", "--interactions", str(path), "--format", "tsv", "--json",
                   "--factors", "4", "--iterations", "5", "--threads", "1"])
    out = capsys.readouterr().out
    assert status == 0
    result = json.loads(out)
    for key in ("precision@10", "recall@10", "map@10", "ndcg@10", "fit_seconds"):
        assert key in result
    assert 0 <= result["popularity"]["precision@10"] < result["precision@10"] <= 1
    assert result["ndcg@10"] > 0.5


def test_evaluate_prints_a_table_without_json(tmp_path, capsys):
    path = block_plays(tmp_path)
    assert main(["evaluate", "--interactions", str(path), "--format", "tsv", "--factors", "4",
                 "--iterations", "3", "--solver", "exact", "--regularization-mode", "plain"]) == 0
    out = capsys.readouterr().out
    assert "precision@10" in out and "popularity" in out and "exact solver" in out


def test_evaluate_a_wrong_path_is_one_line_and_non_zero(tmp_path, capsys):
    status = main(["evaluate", "--interactions", str(tmp_path / "missing.dat")])
    err = capsys.readouterr().err
    assert status != 0
    assert err.count("\n") == 1 and "missing.dat" in err


def test_evaluate_a_file_of_the_wrong_format_is_one_line_and_non_zero(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("a,b,c\n1,2,3\n")
    assert main(["evaluate", "--interactions", str(tmp_path / "x.csv"), "--format", "tsv"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "3 tab-separated columns" in err


def test_evaluate_on_lastfm_beats_popularity(lastfm_dir, capsys):
    assert main(["evaluate", "--interactions", str(lastfm_dir / "user_artists.dat"), "--json",
                 "--factors", "16", "--iterations", "4"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["popularity"]["precision@10"] == pytest.approx(0.0692, abs=1e-4)
    assert result["precision@10"] > 0.12
