"""A published ALS with the ids of its items and the item model blended with it, and users folded in against it.

:class:`FactorModel` is what a worker ranks with once a model is installed; :meth:`FactorModel.fold_in`
turns a batch of histories into :class:`FoldedUsers`, whose :meth:`~FoldedUsers.scores` the
recommender ranks and :mod:`streamproc.recommend.personalise` explains. No Kafka and no Faust here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from itertools import chain, repeat

import numpy as np
import scipy.sparse as sp

from models.als import ImplicitALS
from models.item_item import ItemItemRecommender
from models.ranking import blend_parts
from tables.model_bundle import Blend


@dataclasses.dataclass(frozen=True)
class FactorModel:
    """A trained ALS model with the item ids of its columns, and the item model blended with it (if any)."""

    model: ImplicitALS
    item_ids: list[str]
    item_index: dict[str, int]
    version: int
    trained_at: float
    fit_seconds: float
    n_users: int
    items: ItemItemRecommender | None = None
    hybrid: Blend | None = None

    @property
    def source(self) -> str:
        """Return what its lists' items are marked with: ``hybrid`` when blended, else ``als``."""
        return "hybrid" if self.items is not None and self.hybrid is not None else "als"

    @property
    def item_part(self) -> str:
        """Return the name of the item model's part of a blend (``ease``, ``rp3beta``)."""
        return type(self.items).__name__.lower()

    def fold_in(self, histories: Sequence[Mapping[str, float]], min_items: int = 1) -> "FoldedUsers":
        """Return the ``histories`` with at least ``min_items`` positive items this model knows, folded in together.

        Every history's items are looked up by one C-level ``map`` and sorted into CSR rows by numpy:
        a Python loop per item cost more than the fold-in's solves.
        """
        lengths = np.fromiter(map(len, histories), np.int64, len(histories))
        total = int(lengths.sum())
        columns = np.fromiter(map(self.item_index.get, chain.from_iterable(histories), repeat(-1)), np.int64, total)
        values = np.fromiter(chain.from_iterable(history.values() for history in histories), np.float64, total)
        owners = np.repeat(np.arange(len(histories)), lengths)
        known = (columns >= 0) & (values > 0)
        counts = np.bincount(owners[known], minlength=len(histories))
        folded = counts >= max(min_items, 1)
        known &= folded[owners]
        order = np.lexsort((columns[known], owners[known]))
        rows = sp.csr_matrix(
            (values[known][order].astype(np.float32), columns[known][order].astype(np.int32),
             np.concatenate([[0], np.cumsum(counts[folded])])),
            shape=(int(folded.sum()), len(self.item_ids)),
        )
        positions = dict(zip(np.flatnonzero(folded).tolist(), range(rows.shape[0])))
        weights = self.model.confidence_weights(rows)
        reg = self.model.row_regularization(weights)
        vectors = (self.model.fold_in_weights(weights, reg) if positions
                   else np.empty((0, self.model.factors), self.model.dtype))
        return FoldedUsers(self, positions, rows, weights, reg, vectors)


@dataclasses.dataclass(frozen=True)
class FoldedUsers:
    """Users folded in together against one :class:`FactorModel`, for scoring and explanations.

    ``positions`` maps a history's position in the request to its row; ``rows`` holds the raw
    weights, ``weights`` the confidence minus one, ``reg`` each row's lambda, ``vectors`` the factors.
    """

    factors: FactorModel
    positions: dict[int, int]
    rows: sp.csr_matrix
    weights: sp.csr_matrix
    reg: np.ndarray
    vectors: np.ndarray

    def scores(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Return the scores over every item of rows ``start:stop``, and where blended whether the ALS's
        share of each is at least the item model's (None when the ALS ranks alone).

        The item model's scores are the rows' 0/1 histories times its sparse matrix: one product for the rows.
        """
        factors = self.factors
        als = self.vectors[start:stop] @ factors.model.item_factors_.T
        if factors.source == "als":
            return als, None
        als_part, item_part = blend_parts(als, factors.items.score_histories(self.rows[start:stop]),
                                          factors.hybrid.weight, factors.hybrid.normalise)
        return als_part + item_part, als_part >= item_part
