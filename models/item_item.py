"""What EASE and RP3beta share: scoring, recommending, explaining and saving with an item x item matrix.

Both read plays as preferences (``p = 1 if r > 0``; the count itself is dropped), leave out
the items with fewer than ``min_count`` listeners and learn a (kept x kept) matrix ``S`` whose
row ``i`` is what playing item ``i`` adds to every item's score. A user's scores are
``p_u @ S``: there is no user state and no fold-in, so a streaming worker scores a changed
history at once with :meth:`ItemItemRecommender.score_history`. Left-out items score 0 and are
never recommended.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import scipy.sparse as sp

from models.als import check_interactions
from models.ranking import top_n

FORMAT_VERSION = 1


def preferences(user_items, name: str = "user_items", dtype=np.float32) -> sp.csr_matrix:
    """Return checked raw weights ``user_items`` as a 0/1 CSR matrix of ``dtype``, sharing its index arrays.

    >>> preferences(sp.csr_matrix([[3.0, 0.0, 0.5]])).toarray().tolist()
    [[1.0, 0.0, 1.0]]
    """
    matrix = check_interactions(user_items, name)
    return sp.csr_matrix((np.ones(matrix.nnz, dtype=dtype), matrix.indices, matrix.indptr), shape=matrix.shape,
                         copy=False)


@contextlib.contextmanager
def binary_file(path, mode: str) -> Iterator[IO[bytes]]:
    """Yield ``path`` itself when it is an open binary file (left open), else the file ``path`` opened in ``mode``.

    >>> import io
    >>> buffer = io.BytesIO()
    >>> with binary_file(buffer, "wb") as handle:
    ...     _ = handle.write(b"x")
    >>> buffer.closed, buffer.getvalue()
    (False, b'x')
    """
    if hasattr(path, "write" if "w" in mode else "read"):
        yield path
        return
    with open(Path(path), mode) as handle:
        yield handle


def compacted(matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    """Return the ``data`` and ``indices`` of CSR ``matrix`` in the smallest types that keep them: uint16 indices
    when there are at most 65,536 columns, float16 weights when every nonzero one is a normal float16.

    >>> {k: v.dtype.name for k, v in compacted(sp.csr_matrix(np.array([[0.5, 0.0], [0.0, 2.0]]))).items()}
    {'data': 'float16', 'indices': 'uint16'}
    >>> compacted(sp.csr_matrix(np.array([[1e-7, 1.0]])))["data"].dtype.name
    'float64'
    """
    magnitude = np.abs(matrix.data[matrix.data != 0])
    half = np.finfo(np.float16)
    fits = magnitude.size == 0 or (magnitude.min() >= half.tiny and magnitude.max() <= half.max)
    return {"data": matrix.data.astype(np.float16) if fits else matrix.data,
            "indices": matrix.indices.astype(np.uint16) if matrix.shape[1] <= 1 << 16 else matrix.indices}


class ItemItemRecommender:
    """The base of the item x item models; a subclass sets ``min_count`` and ``dtype`` and defines :meth:`_learn`.

    Learned: ``n_items_`` (the catalogue's width at fit), ``items_`` (the kept items, ascending),
    ``similarity_`` ((kept, kept), a dense array or a CSR matrix) and ``position_`` (each item's
    row in ``similarity_``, -1 for a left-out item).
    """

    def _check_params(self) -> None:
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, (int, np.integer)) or self.min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {self.min_count!r}")

    def _check_catalogue(self, kept: int) -> None:
        """Raise ValueError when ``kept`` items are too many for the model; every size is fine by default."""

    def _learn(self, X: sp.csr_matrix):
        """Return the (kept, kept) matrix ``S`` learnt from the 0/1 (users, kept) preferences ``X``."""
        raise NotImplementedError

    def get_params(self) -> dict:
        """Return the ``__init__`` parameters by name, as scikit-learn does."""
        return {name: getattr(self, name) for name in inspect.signature(type(self).__init__).parameters
                if name != "self"}

    def fit(self, user_items) -> "ItemItemRecommender":
        """Learn ``similarity_`` from raw non-negative weights ``user_items`` (n_users, n_items) and return self."""
        self._check_params()
        X = preferences(user_items, dtype=self.dtype)
        if X.nnz == 0:
            raise ValueError("user_items has no nonzero interaction")
        listeners = np.bincount(X.indices, minlength=X.shape[1])
        items = np.flatnonzero(listeners >= self.min_count)
        if items.size == 0:
            raise ValueError(f"no item has min_count={self.min_count} listeners; lower min_count")
        self._check_catalogue(items.size)
        kept = X if items.size == X.shape[1] else X[:, items]
        self.similarity_ = self._learn(sp.csr_matrix(kept))
        self.n_items_, self.items_ = X.shape[1], items
        self._index()
        return self

    def _index(self) -> None:
        """Set ``position_`` and ``left_out_`` from ``items_``; called wherever ``items_`` is set (fit, load)."""
        self.position_ = np.full(self.n_items_, -1, dtype=np.int64)
        self.position_[self.items_] = np.arange(self.items_.size)
        self.left_out_ = np.flatnonzero(self.position_ < 0)

    def _require_fitted(self) -> None:
        if not hasattr(self, "similarity_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() or load() first")

    def _kept_preferences(self, rows, name: str) -> sp.csr_matrix:
        """Return the 0/1 preferences of ``rows`` (n, n_items_) on the kept items only: (n, kept)."""
        X = preferences(rows, name, dtype=self.similarity_.dtype)
        if X.shape[1] != self.n_items_:
            raise ValueError(f"{name} must have {self.n_items_} columns, got {X.shape[1]}")
        positions = self.position_[X.indices]
        kept = positions >= 0
        indptr = np.concatenate([[0], np.cumsum(kept)])[X.indptr]
        return sp.csr_matrix((X.data[kept], positions[kept], indptr), shape=(X.shape[0], self.items_.size))

    def score_histories(self, rows) -> np.ndarray:
        """Return the (n, n_items_) scores of ``n`` users given by their raw weights ``rows`` (n x n_items_)."""
        self._require_fitted()
        kept = self._kept_preferences(rows, "rows") @ self.similarity_
        kept = kept.toarray() if sp.issparse(kept) else np.asarray(kept)
        if self.items_.size == self.n_items_:
            return kept
        scores = np.zeros((kept.shape[0], self.n_items_), dtype=kept.dtype)
        scores[:, self.items_] = kept
        return scores

    def score_history(self, history_row) -> np.ndarray:
        """Return the (n_items_,) scores of one user's raw weights ``history_row`` (1 x n_items_), seen items too.

        What a streaming worker calls when a history changes: one sparse row times ``similarity_``.
        """
        if sp.issparse(history_row) and history_row.shape[0] != 1:
            raise ValueError(f"history_row must be one row, got {history_row.shape[0]}")
        return self.score_histories(history_row)[0]

    def recommend(self, user, n: int = 10, user_items=None, exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``n`` best (item indices, scores) for the user whose plays are ``user_items``.

        ``user_items`` is the user's 1 x n_items row, or a user x item matrix whose row ``user``
        is taken (the model keeps no user state); the user's items are left out when
        ``exclude_seen``, and left-out items always are.
        """
        if user_items is None:
            raise ValueError(f"{type(self).__name__} keeps no user state: give the user's plays as user_items")
        row = sp.csr_matrix(user_items)
        if row.shape[0] != 1:
            row = row[user]
        scores = self.score_history(row)
        exclude = self.left_out_
        if exclude_seen and row.nnz:
            exclude = np.concatenate([exclude, row.indices])
        return top_n(scores, n, exclude=exclude)

    def _row(self, position: int) -> np.ndarray:
        """Return row ``position`` of ``similarity_`` as a dense (kept,) array."""
        row = self.similarity_[position]
        return row.toarray().ravel() if sp.issparse(row) else np.asarray(row)

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``n`` items (indices, weights) that playing ``item`` raises most, itself left out.

        Items of weight exactly 0 are left out too, so a left-out item has no neighbours.
        """
        self._require_fitted()
        position = self.position_[item]
        if position < 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        weights = self._row(position).astype(np.float64)
        weights[weights == 0] = np.nan
        order, values = top_n(weights, n, exclude=[position])
        return self.items_[order], values

    def explain(self, user_row, item: int, n: int = 3) -> list[tuple[int, float]]:
        """Return the user's ``n`` items contributing most to the score of ``item``, largest first.

        The score is a sum over the user's kept items ``j`` of ``S[j, item]``: each term is what
        ``j`` contributes; items contributing exactly 0 are left out.
        """
        self._require_fitted()
        if sp.csr_matrix(user_row).shape[0] != 1:
            raise ValueError(f"user_row must be one row, got {sp.csr_matrix(user_row).shape[0]}")
        return self.explain_many(user_row, [[item]], n)[0][0]

    def explain_many(self, rows, targets: Sequence[Sequence[int]], n: int = 3) -> list[list[list[tuple[int, float]]]]:
        """Return :meth:`explain` of each item of ``targets[u]`` for the user of row ``u`` of ``rows`` (raw weights).

        One slice of ``similarity_`` per user (their played rows, the targets' columns), so a
        worker explains a batch of lists without a call per item.
        """
        self._require_fitted()
        X = self._kept_preferences(rows, "rows")
        if X.shape[0] != len(targets):
            raise ValueError(f"{X.shape[0]} rows for {len(targets)} lists of targets")
        result = []
        for u, items in enumerate(targets):
            played = X.indices[X.indptr[u]:X.indptr[u + 1]]
            positions = self.position_[np.asarray(items, dtype=np.int64)]
            found: list[list[tuple[int, float]]] = [[] for _ in items]
            usable = np.flatnonzero(positions >= 0)
            if played.size and usable.size:
                block = self.similarity_[played][:, positions[usable]]
                block = (block.toarray() if sp.issparse(block) else np.asarray(block)).astype(np.float64)
                block[block == 0] = np.nan
                for column, target in zip(block.T, usable.tolist()):
                    order, values = top_n(column, n)
                    found[target] = [(int(self.items_[played[j]]), float(v)) for j, v in zip(order, values)]
            result.append(found)
        return result

    def save(self, path, compact: bool = False) -> None:
        """Write the parameters and the learnt matrix to the npz file ``path`` (a path or a binary file).

        ``compact``: a sparse matrix's column indices as uint16 when they fit and its weights as
        float16 when every nonzero one is within float16's normal range (relative error under
        0.05 %), about half the bytes: what the trainer publishes with every model version.
        """
        self._require_fitted()
        params = self.get_params()
        params["dtype"] = np.dtype(params["dtype"]).name
        S = self.similarity_
        arrays = ({"data": S.data, "indices": S.indices, "indptr": S.indptr} if sp.issparse(S)
                  else {"dense": S})
        if compact and sp.issparse(S):
            arrays.update(compacted(S))
        with binary_file(path, "wb") as handle:
            np.savez(handle, format_version=FORMAT_VERSION, model=type(self).__name__, params=json.dumps(params),
                     n_items=self.n_items_, items=self.items_, **{f"similarity_{k}": v for k, v in arrays.items()})

    @classmethod
    def load(cls, path) -> "ItemItemRecommender":
        """Return the model saved at ``path`` (a path or a binary file) by :meth:`save`."""
        with binary_file(path, "rb") as handle, np.load(handle, allow_pickle=False) as saved:
            version, name = int(saved["format_version"]), str(saved["model"])
            if version != FORMAT_VERSION:
                raise ValueError(f"{path}: model format version {version}, this code reads {FORMAT_VERSION}")
            if name != cls.__name__:
                raise ValueError(f"{path}: holds a {name} model, not {cls.__name__}")
            params = json.loads(str(saved["params"]))
            params["dtype"] = np.dtype(params["dtype"]).type
            model = cls(**params)
            model.n_items_, model.items_ = int(saved["n_items"]), saved["items"]
            if "similarity_dense" in saved:
                model.similarity_ = saved["similarity_dense"]
            else:
                size = model.items_.size
                model.similarity_ = sp.csr_matrix((saved["similarity_data"].astype(params["dtype"]),
                                                   saved["similarity_indices"].astype(np.int32),
                                                   saved["similarity_indptr"]), shape=(size, size))
        model._index()
        return model
