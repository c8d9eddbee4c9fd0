"""Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren, Volinsky 2008).

Raw weights ``r`` (play counts) become a preference ``p = 1 if r > 0`` and a confidence
``c = 1 + alpha * f(r)`` with ``f = log1p`` or the identity. The model minimises::

    sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + sum_u lambda_u |x_u|^2 + sum_i lambda_i |y_i|^2

over every (user, item) pair, not only the observed ones. ``regularization_mode="plain"``
uses ``lambda_u = lambda_i = regularization``; ``"weighted"`` scales it by the row's number
of interactions, ``lambda_u = regularization * n_u``, as in ALS-WR (Zhou et al. 2008) and
Spark MLlib's ALS, so heavy users and popular items are shrunk as much per interaction as
light ones. Weighted is the default: on Last.fm 2k it beats plain at every lambda tried
(see bench/RESULTS.md), as popular artists otherwise dominate everyone's top 10.

>>> import numpy as np, scipy.sparse as sp
>>> plays = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 3))) * 5)
>>> model = ImplicitALS(factors=2, iterations=10, random_state=0).fit(plays)
>>> items, scores = model.recommend(0, n=3, user_items=plays[0], exclude_seen=False)
>>> sorted(items.tolist())
[0, 1, 2]
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from models.ranking import cosine_scores, top_n
from models.solvers import Eigenbasis, cg_sweep, exact_sweep, nonzero_error

FORMAT_VERSION = 1
CONFIDENCES = ("log1p", "linear")
SOLVERS = ("cg", "exact")
REGULARIZATION_MODES = ("plain", "weighted")


def check_interactions(matrix, name: str = "user_items", dtype=np.float64) -> sp.csr_matrix:
    """Return ``matrix`` as a ``dtype`` CSR matrix with sorted indices and no explicit zeros, or raise ValueError.

    An input already in that form shares its index arrays (and its data, if already
    ``dtype``) with the result, so a large matrix is not copied; the result must not be
    modified in place. Any other input is copied first.

    >>> check_interactions(sp.csr_matrix([[1.0, -2.0]]))
    Traceback (most recent call last):
    ...
    ValueError: user_items has 1 negative value(s); weights must be non-negative play counts
    """
    if not sp.issparse(matrix):
        raise ValueError(f"{name} must be a scipy.sparse matrix, got {type(matrix).__name__}")
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {matrix.shape}")
    matrix = matrix.tocsr(copy=False)
    # Built from its parts: scipy's astype would copy the index arrays too.
    matrix = sp.csr_matrix((matrix.data.astype(dtype, copy=False), matrix.indices, matrix.indptr),
                           shape=matrix.shape, copy=False)
    if not np.isfinite(matrix.data).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    negative = int(np.count_nonzero(matrix.data < 0))
    if negative:
        raise ValueError(f"{name} has {negative} negative value(s); weights must be non-negative play counts")
    if not matrix.has_canonical_format or not matrix.data.all():
        matrix = matrix.copy()
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
    return matrix


class ImplicitALS:
    """Implicit ALS recommender with a batched conjugate gradient or exact solver.

    Parameters: ``factors`` (k), ``regularization`` (lambda), ``alpha`` (confidence scale),
    ``iterations`` (item sweep then user sweep, each), ``confidence`` ("log1p" or "linear"),
    ``solver`` ("cg": ``cg_steps`` warm-started steps per sweep, two by default where
    implicit takes three, as on Last.fm 2k two rank as well or better in under three
    quarters of the time, see bench/RESULTS.md; "exact": batched solves),
    ``regularization_mode`` ("plain" or "weighted", see the module docstring),
    ``random_state``, ``num_threads`` (threads sharing each sweep's rows, None for every core;
    BLAS is held to one thread meanwhile) and ``dtype``.

    Learned: ``user_factors_`` (n_users, k), ``item_factors_`` (n_items, k) and
    ``loss_history_`` (the loss after each iteration). Users are solved last, so
    ``user_factors_`` match a fold-in against the final ``item_factors_``. Kept with them for
    fold-ins and explanations: ``item_gram_``, ``user_gram_`` and ``item_basis_`` (the
    :class:`~models.solvers.Eigenbasis` of ``item_gram_``).

    >>> plays = sp.csr_matrix(np.array([[3.0, 0, 1], [0, 2, 0]]))
    >>> model = ImplicitALS(factors=2, iterations=3, random_state=1).fit(plays)
    >>> model.user_factors_.shape, model.item_factors_.shape, len(model.loss_history_)
    ((2, 2), (3, 2), 3)
    """

    def __init__(self, factors: int = 64, regularization: float = 0.05, alpha: float = 1.0,
                 iterations: int = 15, confidence: str = "log1p", solver: str = "cg",
                 regularization_mode: str = "weighted", cg_steps: int = 2, random_state=None,
                 num_threads: int | None = None, dtype=np.float32):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.confidence = confidence
        self.solver = solver
        self.regularization_mode = regularization_mode
        self.cg_steps = cg_steps
        self.random_state = random_state
        self.num_threads = num_threads
        self.dtype = dtype

    def _check_params(self) -> None:
        for name, value, allowed in (("confidence", self.confidence, CONFIDENCES),
                                     ("solver", self.solver, SOLVERS),
                                     ("regularization_mode", self.regularization_mode, REGULARIZATION_MODES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.factors < 1 or self.iterations < 0 or self.cg_steps < 1:
            raise ValueError("factors and cg_steps must be >= 1 and iterations >= 0")
        if self.regularization < 0 or self.alpha < 0:
            raise ValueError("regularization and alpha must be non-negative")

    def confidence_weights(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        """Return ``C - 1 = alpha * f(r)`` on the nonzeros of checked raw weights ``user_items``.

        >>> ImplicitALS(alpha=2.0, confidence="linear").confidence_weights(sp.csr_matrix([[3.0, 0]])).toarray()
        array([[6., 0.]])
        """
        data = np.log1p(user_items.data) if self.confidence == "log1p" else user_items.data.copy()
        data *= self.alpha
        # Built from its parts, the result shares the index arrays instead of copying them.
        return sp.csr_matrix((data, user_items.indices, user_items.indptr), shape=user_items.shape, copy=False)

    def row_regularization(self, W: sp.csr_matrix) -> np.ndarray:
        """Return each row's lambda: constant, or lambda * n_u (at least one) when weighted.

        >>> ImplicitALS(regularization=0.5).row_regularization(sp.csr_matrix([[1.0, 2.0], [0, 0]])).tolist()
        [1.0, 0.5]
        """
        if self.regularization_mode == "plain":
            return np.full(W.shape[0], self.regularization)
        return self.regularization * np.maximum(np.diff(W.indptr), 1)

    def fit(self, user_items) -> "ImplicitALS":
        """Learn the factors from raw non-negative weights ``user_items`` (n_users, n_items) and return self.

        >>> ImplicitALS().fit(sp.csr_matrix((2, 2)))
        Traceback (most recent call last):
        ...
        ValueError: user_items has no nonzero interaction
        """
        self._check_params()
        Wu = self.confidence_weights(check_interactions(user_items, dtype=self.dtype))
        if Wu.nnz == 0:
            raise ValueError("user_items has no nonzero interaction")
        Wi = Wu.T.tocsr()
        reg_u, reg_i = self.row_regularization(Wu), self.row_regularization(Wi)
        rng = np.random.default_rng(self.random_state)
        n_users, n_items = Wu.shape
        X = _initial_factors(rng, n_users, self.factors, self.dtype)
        Y = _initial_factors(rng, n_items, self.factors, self.dtype)
        self.loss_history_ = []
        # The sweeps share their rows among Python threads; BLAS threads on top would oversubscribe.
        with threadpool_limits(1 if self._workers() > 1 else self.num_threads):
            for _ in range(self.iterations):
                Y, _ = self._sweep(Wi, Y, X, X.T @ X, reg_i)
                YtY = Y.T @ Y
                X, error = self._sweep(Wu, X, Y, YtY, reg_u, error=True)
                self.loss_history_.append(_loss(Wu, X, Y, X.T @ X, YtY, reg_u, reg_i, error))
        self.user_factors_, self.item_factors_ = X, Y
        self._cache_grams()
        return self

    def _sweep(self, W: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, YtY: np.ndarray, reg: np.ndarray,
               error: bool = False) -> tuple[np.ndarray, float | None]:
        """Return ``X`` re-solved against fixed ``Y`` (Gram matrix ``YtY``) with the configured solver.

        With ``error``, also return :func:`nonzero_error` of the result (else None); the CG
        solver sums it while it still holds the factors gathered.
        """
        if self.solver == "cg":
            return X, cg_sweep(W, X, Y, YtY, reg, steps=self.cg_steps, workers=self._workers(), error=error)
        X = exact_sweep(W, Y, YtY, reg, workers=self._workers(), out=X)
        return X, nonzero_error(W, X, Y, workers=self._workers()) if error else None

    def _workers(self) -> int:
        """Return the number of threads the sweeps use: ``num_threads``, or every core."""
        return self.num_threads or os.cpu_count() or 1

    def _cache_grams(self) -> None:
        """Keep both Gram matrices and the items' eigenbasis so a fold-in costs only its own interactions.

        Called wherever the factors are set (fit, load), so they never describe older factors.
        """
        self.item_gram_ = self.item_factors_.T @ self.item_factors_
        self.user_gram_ = self.user_factors_.T @ self.user_factors_
        self.item_basis_ = Eigenbasis.of(self.item_gram_)

    def _require_fitted(self) -> None:
        if not hasattr(self, "item_factors_"):
            raise RuntimeError("ImplicitALS is not fitted; call fit() or load() first")

    def _solve_one(self, row, factors: np.ndarray, gram: np.ndarray, length: int, name: str) -> np.ndarray:
        """Return the exact factor of one new row of raw weights against fixed ``factors``."""
        row = check_interactions(row, name)
        if row.shape[0] != 1:
            row = row.T.tocsr()
        if row.shape != (1, length):
            raise ValueError(f"{name} must have shape (1, {length}) or ({length}, 1), got {row.shape}")
        W = self.confidence_weights(row)
        lam = self.row_regularization(W)[0]
        gathered = factors[W.indices].astype(np.float64)
        A = gram + gathered.T @ (W.data[:, None] * gathered)
        A[np.diag_indices_from(A)] += lam
        b = (1.0 + W.data) @ gathered
        return np.linalg.solve(A, b).astype(self.dtype)

    def fold_in(self, user_row) -> np.ndarray:
        """Return the (k,) factor of a user with raw weights ``user_row`` (1 x n_items) against the fixed items.

        >>> plays = sp.csr_matrix(np.array([[3.0, 0, 1], [0, 2, 0]]))
        >>> model = ImplicitALS(factors=2, solver="exact", random_state=0).fit(plays)
        >>> np.allclose(model.fold_in(plays[0]), model.user_factors_[0], atol=1e-5)
        True
        """
        self._require_fitted()
        return self._solve_one(user_row, self.item_factors_, self.item_gram_, self.item_factors_.shape[0],
                               "user_row")

    def fold_in_users(self, user_rows) -> np.ndarray:
        """Return the (n, k) factors of ``n`` users with raw weights ``user_rows`` (n x n_items), solved together.

        The real-time update of many users at once: one batched exact solve instead of ``n`` calls
        to :meth:`fold_in`, which it equals.

        >>> plays = sp.csr_matrix(np.array([[3.0, 0, 1], [0, 2, 0]]))
        >>> model = ImplicitALS(factors=2, solver="exact", random_state=0).fit(plays)
        >>> np.allclose(model.fold_in_users(plays), model.user_factors_, atol=1e-4)
        True
        """
        self._require_fitted()
        rows = check_interactions(user_rows, "user_rows", dtype=self.dtype)
        if rows.shape[1] != self.item_factors_.shape[0]:
            raise ValueError(f"user_rows must have {self.item_factors_.shape[0]} columns, got {rows.shape[1]}")
        W = self.confidence_weights(rows)
        return self.fold_in_weights(W, self.row_regularization(W))

    def fold_in_weights(self, W: sp.csr_matrix, reg: np.ndarray) -> np.ndarray:
        """Return :meth:`fold_in_users` of users given by their checked :meth:`confidence_weights` ``W`` and
        :meth:`row_regularization` ``reg``, for a caller that needs those too and so computes them once.

        >>> plays = sp.csr_matrix(np.array([[3.0, 0, 1], [0, 2, 0]]))
        >>> model = ImplicitALS(factors=2, random_state=0).fit(plays)
        >>> W = model.confidence_weights(plays)
        >>> np.array_equal(model.fold_in_weights(W, model.row_regularization(W)), model.fold_in_users(plays))
        True
        """
        self._require_fitted()
        return exact_sweep(W, self.item_factors_, self.item_gram_, reg, basis=self.item_basis_)

    def fold_in_item(self, item_column) -> np.ndarray:
        """Return the (k,) factor of a new item listened to as ``item_column`` (n_users x 1) by the known users.

        >>> plays = sp.csr_matrix(np.array([[3.0, 0, 1], [0, 2, 0]]))
        >>> model = ImplicitALS(factors=2, random_state=0).fit(plays)
        >>> model.fold_in_item(plays[:, [0]]).shape
        (2,)
        """
        self._require_fitted()
        return self._solve_one(item_column, self.user_factors_, self.user_gram_, self.user_factors_.shape[0],
                               "item_column")

    def recommend(self, user, n: int = 10, user_items=None, exclude_seen: bool = True,
                  user_vector=None) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``n`` best (item indices, scores) for a user row index or a ``user_vector``.

        ``user_items`` is the user's 1 x n_items row; its items are left out when ``exclude_seen``.

        >>> plays = sp.csr_matrix(np.array([[3.0, 0, 1], [0, 2, 0]]))
        >>> model = ImplicitALS(factors=2, random_state=0).fit(plays)
        >>> model.recommend(0, n=5, user_items=plays[0])[0].tolist()
        [1]
        """
        self._require_fitted()
        if user_vector is None:
            if user is None:
                raise ValueError("give a user index or a user_vector")
            user_vector = self.user_factors_[user]
        scores = self.item_factors_ @ np.asarray(user_vector, dtype=self.item_factors_.dtype)
        exclude = None
        if exclude_seen and user_items is not None:
            exclude = sp.csr_matrix(user_items).indices
        return top_n(scores, n, exclude=exclude)

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``n`` items (indices, cosine) most similar to ``item``, itself left out.

        >>> plays = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 3))))
        >>> model = ImplicitALS(factors=2, random_state=0).fit(plays)
        >>> sorted(model.similar_items(0, n=2)[0].tolist())
        [1, 2]
        """
        self._require_fitted()
        scores = cosine_scores(self.item_factors_, self.item_factors_[item])
        return top_n(scores, n, exclude=[item])

    def explain(self, user_row, item: int, n: int = 3) -> list[tuple[int, float]]:
        """Return the user's ``n`` items contributing most to the score of ``item``, largest first.

        As in Hu et al. 2008, section 5: with ``W^u = (YtY + Y^T (C^u - I) Y + lambda I)^-1``
        the score is ``sum_j (y_item^T W^u y_j) c_uj`` over the user's items ``j``.

        >>> plays = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 3))))
        >>> model = ImplicitALS(factors=2, random_state=0).fit(plays)
        >>> [j for j, _ in model.explain(plays[0], 0, n=2)] in ([0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1])
        True
        """
        self._require_fitted()
        W = self.confidence_weights(check_interactions(user_row, "user_row"))
        Y = self.item_factors_.astype(np.float64)
        gathered = Y[W.indices]
        A = self.item_gram_ + gathered.T @ (W.data[:, None] * gathered)
        A[np.diag_indices_from(A)] += self.row_regularization(W)[0]
        weighted_item = np.linalg.solve(A, Y[item])
        contributions = (gathered @ weighted_item) * (1.0 + W.data)
        order, values = top_n(contributions, n)
        return [(int(W.indices[j]), float(v)) for j, v in zip(order, values)]

    def loss(self, user_items) -> float:
        """Return the regularised weighted squared error on raw weights ``user_items``, per unit of confidence.

        >>> plays = sp.csr_matrix(np.array([[3.0, 0, 1], [0, 2, 0]]))
        >>> model = ImplicitALS(factors=2, iterations=5, random_state=0).fit(plays)
        >>> abs(model.loss(plays) - model.loss_history_[-1]) < 1e-6
        True
        """
        self._require_fitted()
        W = self.confidence_weights(check_interactions(user_items))
        if W.shape != (self.user_factors_.shape[0], self.item_factors_.shape[0]):
            raise ValueError(f"user_items shape {W.shape} does not match the model's "
                             f"({self.user_factors_.shape[0]}, {self.item_factors_.shape[0]})")
        X, Y = self.user_factors_, self.item_factors_
        return _loss(W, X, Y, X.T @ X, Y.T @ Y, self.row_regularization(W), self.row_regularization(W.T.tocsr()), nonzero_error(W, X, Y))

    def save(self, path, users: bool = True) -> None:
        """Write the parameters and factors to the npz file ``path`` (a path or a binary file).

        With ``users=False`` only the item side is written: what fold-ins, recommendations for
        given histories, similar items and explanations need, at a size that does not grow with
        the users (how the trainer publishes a model to the workers).

        >>> import io
        >>> model = ImplicitALS(factors=2, random_state=0).fit(sp.csr_matrix(np.eye(3)))
        >>> buffer = io.BytesIO()
        >>> model.save(buffer, users=False)
        >>> served = ImplicitALS.load(io.BytesIO(buffer.getvalue()))
        >>> np.array_equal(served.item_factors_, model.item_factors_), served.user_factors_.shape
        (True, (0, 2))
        """
        self._require_fitted()
        params = {name: getattr(self, name) for name in
                  ("factors", "regularization", "alpha", "iterations", "confidence", "solver",
                   "regularization_mode", "cg_steps", "random_state", "num_threads")}
        params["dtype"] = np.dtype(self.dtype).name
        user_factors = self.user_factors_ if users else self.user_factors_[:0]
        handle = path if hasattr(path, "write") else open(path, "wb")
        try:
            np.savez(handle, format_version=FORMAT_VERSION, params=json.dumps(params),
                     user_factors=user_factors, item_factors=self.item_factors_,
                     loss_history=np.asarray(self.loss_history_, dtype=np.float64))
        finally:
            if handle is not path:
                handle.close()

    @classmethod
    def load(cls, path) -> "ImplicitALS":
        """Return the model saved at ``path`` (a path or a binary file) by :meth:`save` (see its example)."""
        with np.load(path if hasattr(path, "read") else Path(path), allow_pickle=False) as saved:
            version = int(saved["format_version"])
            if version != FORMAT_VERSION:
                raise ValueError(f"{path}: model format version {version}, this code reads {FORMAT_VERSION}")
            params = json.loads(str(saved["params"]))
            params["dtype"] = np.dtype(params["dtype"]).type
            model = cls(**params)
            model.user_factors_ = saved["user_factors"]
            model.item_factors_ = saved["item_factors"]
            model.loss_history_ = saved["loss_history"].tolist()
        model._cache_grams()
        return model


def _initial_factors(rng: np.random.Generator, rows: int, k: int, dtype, chunk: int = 1024) -> np.ndarray:
    """Return small positive (rows, k) factors, as implicit starts, so the first sweeps see near-zero predictions.

    They are drawn in float64 a chunk of rows at a time: the same numbers as one draw of
    the whole array, without its float64 temporary.

    >>> x = _initial_factors(np.random.default_rng(0), 5, 2, np.float32, chunk=2)
    >>> np.array_equal(x, (np.random.default_rng(0).random((5, 2)) * 0.01).astype(np.float32))
    True
    """
    factors = np.empty((rows, k), dtype=dtype)
    for start in range(0, rows, chunk):
        factors[start:start + chunk] = rng.random((min(chunk, rows - start), k)) * 0.01
    return factors


def _loss(W: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, XtX: np.ndarray, YtY: np.ndarray,
          reg_u: np.ndarray, reg_i: np.ndarray, error: float) -> float:
    """Return the objective divided by the total confidence ``n_users * n_items + sum(W)``.

    The all-pairs term ``sum (x_u . y_i)^2`` is ``<XtX, YtY>``; ``error`` is what the
    nonzeros add (:func:`nonzero_error`).
    """
    error += np.sum(XtX.astype(np.float64) * YtY)
    penalty = reg_u @ np.einsum("ij,ij->i", X, X) + reg_i @ np.einsum("ij,ij->i", Y, Y)
    return float((error + penalty) / (W.shape[0] * W.shape[1] + W.data.sum(dtype=np.float64)))
