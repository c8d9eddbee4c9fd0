"""The clusters page: the catalogue on its first two principal components, coloured by cluster.

The projection and the silhouette are computed on a seeded sample (at most :data:`SAMPLE` tracks
for the plot, :data:`SILHOUETTE_SAMPLE` for the silhouette) and cached: recomputed only when the
catalogue or the clusterer has changed, and then at most every :data:`MIN_AGE_S` seconds, so a
page view never costs more than one bounded computation, however large the catalogue.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from models.clustering import project_2d, silhouette
from streamproc.recommend.recommender import Recommender

SAMPLE = 3000
SILHOUETTE_SAMPLE = 2000
MIN_AGE_S = 5.0


class ClusterSummary:
    """Caches the clusters view of one recommender, keyed by catalogue and clusterer version."""

    def __init__(self, rec: Recommender, clock=time.monotonic) -> None:
        self.rec = rec
        self.clock = clock
        self._cached: tuple[tuple[int, int], float, dict[str, Any]] | None = None

    def view(self) -> dict[str, Any]:
        """Return the clusters view (computing it when stale, see the module's docstring)."""
        clusterer = self.rec.clusterer
        if not clusterer.is_fitted:
            return {"fitted": False, "k": clusterer.n_clusters, "tracks": 0, "sample": 0,
                    "silhouette": None, "sizes": [], "points": []}
        key = (self.rec.catalog.version, clusterer.n_seen_)
        now = self.clock()
        if self._cached is not None and (self._cached[0] == key or now - self._cached[1] < MIN_AGE_S):
            return self._cached[2]
        summary = self._compute()
        self._cached = (key, now, summary)
        return summary

    def _compute(self) -> dict[str, Any]:
        clusterer = self.rec.clusterer
        ids, raw = self.rec.catalog.feature_matrix()
        k = clusterer.n_clusters
        if len(ids) == 0:
            return {"fitted": True, "k": k, "tracks": 0, "sample": 0, "silhouette": None,
                    "sizes": [0] * k, "points": [], "computed_at": time.time()}
        labels = clusterer.predict(raw)
        sizes = np.bincount(labels, minlength=k)
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(len(ids), size=min(SAMPLE, len(ids)), replace=False))
        scaled = clusterer.transform(raw[sample])
        xy = project_2d(scaled) if len(sample) > 1 else np.zeros((len(sample), 2))
        score = silhouette(scaled, labels[sample], sample_size=SILHOUETTE_SAMPLE)
        catalog = self.rec.catalog
        points = [
            [round(float(x), 3), round(float(y), 3), int(labels[i]), ids[i], _label(catalog, ids[i])]
            for (x, y), i in zip(xy, sample)
        ]
        return {
            "fitted": True,
            "k": k,
            "tracks": len(ids),
            "sample": len(sample),
            "silhouette": None if math.isnan(score) else round(score, 4),
            "silhouette_sample": min(SILHOUETTE_SAMPLE, len(sample)),
            "sizes": [int(n) for n in sizes],
            "points": points,
            "computed_at": time.time(),
        }


def _label(catalog, item_id: str) -> str:
    name = catalog.name(item_id) or item_id
    artists = catalog.artists(item_id)
    return f"{name} – {', '.join(artists)}" if artists else name
