"""Thompson sampling over audio-feature clusters: where exploration pays, explore more.

Each cluster keeps how many of the items explored in it were then played and how many skipped;
an exploration place goes to the cluster whose draw from Beta(1 + played, 1 + skipped) is the
highest, among the clusters the user never plays (Thompson 1933; Chapelle and Li 2011). A cluster
never tried draws from Beta(1, 1), uniform, so every cluster keeps a chance. The draws come from
the caller's seeded generator, so a list stays reproducible.

>>> import random
>>> bandit = ClusterBandit()
>>> for _ in range(30):
...     bandit.observe(2, played=True)
...     bandit.observe(5, played=False)
>>> draw = random.Random(0)
>>> sorted({bandit.choose([2, 5], draw) for _ in range(20)})
[2]
>>> bandit.counts(2), bandit.counts(7)
((30, 0), (0, 0))
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterator, Sequence

import numpy as np


class ClusterBandit:
    """Per-cluster counts of explored items played and skipped, and the Thompson choice they give."""

    def __init__(self) -> None:
        self.played_: dict[int, int] = {}
        self.skipped_: dict[int, int] = {}

    def observe(self, cluster: int, played: bool) -> None:
        """Count one explored item of ``cluster`` that the user played (True) or skipped (False)."""
        counts = self.played_ if played else self.skipped_
        counts[cluster] = counts.get(cluster, 0) + 1

    def counts(self, cluster: int) -> tuple[int, int]:
        """Return (played, skipped) of the items explored in ``cluster``."""
        return self.played_.get(cluster, 0), self.skipped_.get(cluster, 0)

    def choose(self, clusters: Sequence[int], draw: random.Random) -> int:
        """Return the one of ``clusters`` (not empty) whose Beta draw is the highest."""
        return max(clusters, key=lambda c: draw.betavariate(1 + self.played_.get(c, 0), 1 + self.skipped_.get(c, 0)))

    def candidates(self, labels: np.ndarray, usual: Collection[int], draw: random.Random,
                   attempts: int) -> Iterator[int]:
        """Yield ``attempts`` rows of ``labels`` (each item's cluster): each of a cluster not in ``usual``
        chosen by :meth:`choose`, uniformly at random within it (nothing when every cluster is usual)."""
        groups = self._groups_of(labels)
        clusters = [c for c in groups if c not in usual]
        for _ in range(attempts if clusters else 0):
            rows = groups[self.choose(clusters, draw)]
            yield int(rows[draw.randrange(len(rows))])

    def _groups_of(self, labels: np.ndarray) -> dict[int, np.ndarray]:
        # The recommender keeps one labels array until its content view changes: group it once.
        cached = getattr(self, "_groups", None)
        if cached is None or cached[0] is not labels:
            order = np.argsort(labels, kind="stable")
            clusters, starts = np.unique(labels[order], return_index=True)
            self._groups = (labels, dict(zip(clusters.tolist(), np.split(order, starts[1:]))))
        return self._groups[1]
