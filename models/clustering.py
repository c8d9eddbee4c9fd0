"""Audio-feature clusters learned from a stream: an incremental StandardScaler feeding MiniBatchKMeans.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = np.vstack([rng.normal(0, 0.1, (50, 3)), rng.normal(5, 0.1, (50, 3))])
>>> clusterer = StreamingClusterer(n_clusters=2, batch_size=32).partial_fit(X[::2]).partial_fit(X[1::2])
>>> labels = clusterer.predict(X)
>>> bool(len(set(labels[:50])) == 1 and labels[0] != labels[-1]), clusterer.n_seen_
(True, 100)
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler


def _check_features(X) -> np.ndarray:
    """Return ``X`` as a finite 2-D float64 array, or raise ValueError."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"features must be a 2-D array (rows, features), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("features contain NaN or infinite values")
    return X


class StreamingClusterer:
    """Cluster tracks by standard-scaled audio features, learning as batches arrive.

    Rows are buffered until there are at least ``n_clusters`` of them, the least k-means
    can start from; then every call updates the scaler and takes k-means steps of
    ``batch_size`` rows. The scaler keeps moving as data arrives, so ``kmeans_`` centres
    are in the scale of the data seen so far: ``transform`` and ``predict`` always use
    the current one.

    Learned: ``scaler_`` (StandardScaler), ``kmeans_`` (MiniBatchKMeans, centres in
    scaled space) and ``n_seen_`` (rows received, buffered ones included).

    >>> StreamingClusterer(n_clusters=3).partial_fit(np.ones((2, 4))).is_fitted
    False
    """

    def __init__(self, n_clusters: int = 12, batch_size: int = 256, random_state=0):
        self.n_clusters = n_clusters
        self.batch_size = batch_size
        self.random_state = random_state

    @property
    def is_fitted(self) -> bool:
        """Return whether k-means has taken its first step, so ``predict`` can be called."""
        return hasattr(self, "kmeans_") and hasattr(self.kmeans_, "cluster_centers_")

    def partial_fit(self, X) -> "StreamingClusterer":
        """Learn from the rows of ``X`` (n, features) and return self."""
        X = _check_features(X)
        if not hasattr(self, "scaler_"):
            self.scaler_ = StandardScaler()
            self.kmeans_ = MiniBatchKMeans(n_clusters=self.n_clusters, batch_size=self.batch_size,
                                           random_state=self.random_state, n_init=3)
            self.n_seen_ = 0
            self._buffer = np.empty((0, X.shape[1]))
        if len(X) == 0:
            return self
        self.scaler_.partial_fit(X)
        self.n_seen_ += len(X)
        if not self.is_fitted:
            X = np.vstack([self._buffer, X])
            if len(X) < self.n_clusters:
                self._buffer = X
                return self
            self._buffer = X[:0]
        step = max(self.batch_size, self.n_clusters)
        scaled = self.scaler_.transform(X)
        for start in range(0, len(scaled), step):
            batch = scaled[start:start + step]
            if self.is_fitted or len(batch) >= self.n_clusters:
                self.kmeans_.partial_fit(batch)
        return self

    def transform(self, X) -> np.ndarray:
        """Return the rows of ``X`` standard-scaled with the statistics seen so far."""
        if not hasattr(self, "scaler_"):
            raise RuntimeError("StreamingClusterer has seen no data; call partial_fit() first")
        return self.scaler_.transform(_check_features(X))

    def predict(self, X) -> np.ndarray:
        """Return the cluster label of every row of ``X``."""
        if not self.is_fitted:
            raise RuntimeError(f"StreamingClusterer needs at least {self.n_clusters} rows before predict()")
        return self.kmeans_.predict(self.transform(X))

    @property
    def centres_(self) -> np.ndarray:
        """Return the cluster centres, in scaled space."""
        return self.kmeans_.cluster_centers_

    def to_model(self) -> "ClusterModel":
        """Return what serving needs of the clusters now: the scaler's statistics and the centres."""
        if not self.is_fitted:
            raise RuntimeError(f"StreamingClusterer needs at least {self.n_clusters} rows before to_model()")
        return ClusterModel(self.scaler_.mean_, self.scaler_.scale_, self.centres_.copy(), self.n_seen_)


class ClusterModel:
    """Fitted clusters as published to the workers: standard scaling and nearest-centre labels.

    It answers ``transform`` and ``predict`` as the :class:`StreamingClusterer` it came from did,
    with numpy alone; an empty one (no centres) is not fitted.

    >>> model = ClusterModel(np.zeros(1), np.ones(1), np.array([[0.0], [10.0]]), n_seen=4)
    >>> model.predict([[1.0], [9.0]]).tolist(), model.n_clusters
    ([0, 1], 2)
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray, centres: np.ndarray, n_seen: int = 0) -> None:
        self.mean_ = np.asarray(mean, dtype=np.float64)
        self.scale_ = np.asarray(scale, dtype=np.float64)
        self.centres_ = np.asarray(centres, dtype=np.float64)
        self.n_seen_ = int(n_seen)

    @classmethod
    def empty(cls, n_features: int) -> "ClusterModel":
        """Return clusters that know nothing yet (before the first model)."""
        return cls(np.zeros(n_features), np.ones(n_features), np.empty((0, n_features)))

    @property
    def is_fitted(self) -> bool:
        """Return whether there are centres to ``predict`` with."""
        return len(self.centres_) > 0

    @property
    def n_clusters(self) -> int:
        """Return the number of clusters."""
        return len(self.centres_)

    def transform(self, X) -> np.ndarray:
        """Return the rows of ``X`` standard-scaled."""
        return (_check_features(X) - self.mean_) / self.scale_

    def predict(self, X) -> np.ndarray:
        """Return the label of the nearest centre of every row of ``X``."""
        if not self.is_fitted:
            raise RuntimeError("ClusterModel has no centres yet")
        scaled = self.transform(X)
        distances = (scaled ** 2).sum(1)[:, None] - 2 * scaled @ self.centres_.T + (self.centres_ ** 2).sum(1)
        return np.argmin(distances, axis=1)


def silhouette(X_scaled, labels, sample_size: int = 2000, random_state=0) -> float:
    """Return the mean silhouette of ``labels`` on at most ``sample_size`` rows (NaN for fewer than 2 clusters).

    >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> round(silhouette(X, np.array([0, 0, 1, 1])), 2)
    0.98
    """
    X_scaled, labels = np.asarray(X_scaled), np.asarray(labels)
    if not 2 <= len(np.unique(labels)) < len(labels):
        return float("nan")
    size = min(sample_size, len(labels))
    return float(silhouette_score(X_scaled, labels, sample_size=size, random_state=random_state))


def choose_k(X, candidates=(4, 6, 8, 12, 16), sample_size: int = 2000,
             random_state=0) -> tuple[int, dict[int, float]]:
    """Return the candidate k with the best silhouette on standard-scaled ``X``, and every k's silhouette.

    Candidates that are not below the number of rows are skipped.

    >>> rng = np.random.default_rng(1)
    >>> X = np.vstack([rng.normal(c, 0.1, (30, 2)) for c in (0, 4, 8)])
    >>> choose_k(X, candidates=(2, 3, 5))[0]
    3
    """
    X = _check_features(X)
    scaled = StandardScaler().fit_transform(X)
    scores = {}
    for k in candidates:
        if 2 <= k < len(X):
            labels = MiniBatchKMeans(n_clusters=k, random_state=random_state, n_init=3).fit_predict(scaled)
            scores[k] = silhouette(scaled, labels, sample_size, random_state)
    if not scores:
        raise ValueError(f"no candidate k in {tuple(candidates)} is between 2 and {len(X) - 1}")
    return max(scores, key=lambda k: (np.nan_to_num(scores[k], nan=-np.inf), -k)), scores


def project_2d(X_scaled) -> np.ndarray:
    """Return the rows of ``X_scaled`` on their first two principal components, for display.

    >>> project_2d(np.array([[0.0, 0, 1], [1, 1, 1], [2, 2, 1]])).shape
    (3, 2)
    """
    X_scaled = _check_features(X_scaled)
    components = min(2, *X_scaled.shape)
    projected = PCA(n_components=components).fit_transform(X_scaled)
    return np.pad(projected, ((0, 0), (0, 2 - components)))
