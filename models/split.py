"""Reading interaction files and the per-user hold-out split used by ``streamproc evaluate``;
reading a timeline of interactions for ``streamproc evaluate --stream``.

Protocol: users are visited in ascending id order and each user's interactions in ascending
item id order (the CSR row order). One ``numpy.random.default_rng(seed)`` draws
``rng.permutation(n)`` for each user with ``n >= min_interactions`` interactions, and the
first ``floor(fraction * n)`` positions of that permutation are held out; users with fewer
interactions draw nothing and keep all of them for training.

>>> import numpy as np, scipy.sparse as sp
>>> plays = sp.csr_matrix(np.array([[1, 2, 3, 4, 5, 0], [1, 1, 0, 0, 0, 0]], dtype=float))
>>> train, test = holdout_split(plays, seed=0)
>>> test.nnz, train.nnz, test[1].nnz
(1, 6, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

FORMATS = ("lastfm", "tsv")


@dataclass(frozen=True)
class Interactions:
    """A user x item matrix of raw weights with the original ids of its rows and columns."""

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray


def read_interactions(path, format: str = "lastfm") -> Interactions:
    """Return the interactions in ``path``: HetRec ``user_artists.dat`` or ``user<TAB>item<TAB>weight``.

    A ``tsv`` file may start with a header line. Ids that are all integers sort numerically.
    Raises ValueError when the file does not have that shape, OSError when it cannot be read.

    >>> import io, tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = Path(d, "p.tsv").write_text("user\\titem\\tweight\\n10\\tb\\t2\\n9\\ta\\t1\\n")
    ...     data = read_interactions(os.path.join(d, "p.tsv"), "tsv")
    >>> data.user_ids.tolist(), data.item_ids.tolist(), data.matrix.toarray().tolist()
    ([9, 10], ['a', 'b'], [[1.0, 0.0], [0.0, 2.0]])
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    frame = _read_rows(path, ("user", "item", "weight"))
    weights = pd.to_numeric(frame.iloc[:, 2], errors="coerce").to_numpy(dtype=np.float64)
    bad = frame.isna().any(axis=1).to_numpy() | ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        raise ValueError(f"{path}: data row {int(np.flatnonzero(bad)[0]) + 1} lacks a field "
                         f"or its weight is not a non-negative number")
    user_ids, users = _codes(frame.iloc[:, 0])
    item_ids, items = _codes(frame.iloc[:, 1])
    matrix = sp.csr_matrix((weights, (users, items)), shape=(len(user_ids), len(item_ids)))
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return Interactions(matrix, user_ids, item_ids)


@dataclass(frozen=True)
class Timeline:
    """Interactions in time order: each row's user and item id (str), weight and unix time."""

    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray
    stamps: np.ndarray

    def __len__(self) -> int:
        return len(self.stamps)


def read_timeline(path) -> Timeline:
    """Return the rows of a ``user<TAB>item<TAB>weight<TAB>timestamp`` file (optional header) sorted by time.

    A weight may be negative (a skip). Rows with equal times keep their order in the file. Raises
    ValueError naming the file (and the row) when it does not have that shape, OSError when it
    cannot be read.

    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = Path(d, "t.tsv").write_text("user\\titem\\tweight\\ttimestamp\\nu\\tb\\t-1\\t20\\nu\\ta\\t2\\t10\\n")
    ...     timeline = read_timeline(os.path.join(d, "t.tsv"))
    >>> timeline.items.tolist(), timeline.weights.tolist(), timeline.stamps.tolist()
    (['a', 'b'], [2.0, -1.0], [10.0, 20.0])
    """
    frame = _read_rows(path, ("user", "item", "weight", "timestamp"))
    weights = pd.to_numeric(frame.iloc[:, 2], errors="coerce").to_numpy(dtype=np.float64)
    stamps = pd.to_numeric(frame.iloc[:, 3], errors="coerce").to_numpy(dtype=np.float64)
    bad = frame.isna().any(axis=1).to_numpy() | ~np.isfinite(weights) | ~np.isfinite(stamps)
    if bad.any():
        raise ValueError(f"{path}: data row {int(np.flatnonzero(bad)[0]) + 1} lacks a field "
                         f"or its weight or timestamp is not a number")
    order = np.argsort(stamps, kind="stable")
    return Timeline(frame.iloc[:, 0].to_numpy(dtype=object)[order], frame.iloc[:, 1].to_numpy(dtype=object)[order],
                    weights[order], stamps[order])


def _read_rows(path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Return the stripped text rows of the tab-separated file ``path`` with these ``columns``, header dropped
    (a first row whose last field is not a number); raise ValueError on another shape or no rows."""
    try:
        frame = pd.read_csv(Path(path), sep="\t", header=None, dtype=str, skip_blank_lines=True,
                            encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: no interactions") from None
    if frame.shape[1] != len(columns):
        raise ValueError(f"{path}: expected {len(columns)} tab-separated columns ({', '.join(columns)}), "
                         f"found {frame.shape[1]}")
    frame = frame.apply(lambda column: column.str.strip())
    if pd.to_numeric(frame.iloc[:1, -1], errors="coerce").isna().all():
        frame = frame.iloc[1:]
    if len(frame) == 0:
        raise ValueError(f"{path}: no interactions")
    return frame


def _codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return the sorted unique ids of ``column`` (as integers when they all are) and each row's code."""
    numeric = pd.to_numeric(column, errors="coerce")
    values = numeric.astype(np.int64).to_numpy() if numeric.notna().all() and (numeric % 1 == 0).all() \
        else column.to_numpy(dtype=object)
    ids, codes = np.unique(values, return_inverse=True)
    return ids, codes


def holdout_split(user_items: sp.csr_matrix, fraction: float = 0.2, min_interactions: int = 5,
                  seed: int = 42) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Return (train, test) CSR matrices of ``user_items`` split as the module docstring describes."""
    user_items = sp.csr_matrix(user_items)
    user_items.sort_indices()
    rng = np.random.default_rng(seed)
    held = np.zeros(user_items.nnz, dtype=bool)
    for user in range(user_items.shape[0]):
        start, stop = user_items.indptr[user], user_items.indptr[user + 1]
        n = stop - start
        if n >= min_interactions:
            held[start + rng.permutation(n)[: int(np.floor(fraction * n))]] = True
    return _subset(user_items, ~held), _subset(user_items, held)


def _subset(matrix: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """Return the CSR matrix of ``matrix`` with only the nonzeros flagged in ``keep``."""
    coo = matrix.tocoo()
    return sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape)
