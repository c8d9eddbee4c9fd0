"""The model the trainer publishes to every worker, and its records on the ``{app_id}-model`` topic.

A :class:`PublishedModel` is what ranking needs and nothing of any user: the ALS's parameters and
item factors (no user factors), the item ids of its rows, how many users played each item, the
audio-feature scaler and cluster centres, and the sparse item x item model (EASE pruned to its
strongest weights per item, or RP3beta) with the weight of the ALS in their blend. It travels as one npz file cut into ``CHUNK_BYTES``
chunks, then a ``manifest`` naming the first chunk's offset and their number. Each chunk says
where the previous manifest is, so a reader that starts at the last record of the topic finds
the newest complete model without reading the topic's history.

>>> import io, numpy as np, scipy.sparse as sp
>>> als = ImplicitALS(factors=2, random_state=0).fit(sp.csr_matrix(np.eye(3)))
>>> model = PublishedModel(3, 100.0, 0.1, 3, ["a", "b", "c"], als, np.array([1, 1, 1]), None)
>>> decode_model(encode_model(model)).item_ids, decode_model(encode_model(model)).version
(['a', 'b', 'c'], 3)
>>> items = EASE(regularization=1.0, min_count=1, neighbours=1).fit(sp.csr_matrix(np.ones((2, 3))))
>>> hybrid = decode_model(encode_model(dataclasses.replace(model, item_model=items, hybrid=Blend(0.6, "rank"))))
>>> type(hybrid.item_model).__name__, hybrid.item_model.similarity_.nnz, hybrid.hybrid
('EASE', 3, Blend(weight=0.6, normalise='rank'))
"""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np

from models.als import ImplicitALS
from models.clustering import ClusterModel
from models.ease import EASE
from models.item_item import ItemItemRecommender
from models.rp3beta import RP3beta
from tables.user_state import LogRecord

FORMAT = 1
CHUNK_BYTES = 512 * 1024
ITEM_MODELS = {cls.__name__: cls for cls in (EASE, RP3beta)}


@dataclasses.dataclass(frozen=True)
class Blend:
    """How ranking blends the ALS with the item model: ``weight * als + (1 - weight) * item``, rows normalised."""

    weight: float
    normalise: str


@dataclasses.dataclass(frozen=True)
class PublishedModel:
    """One version of the model: ALS item side (None before enough users), popularity and clusters."""

    version: int
    trained_at: float
    fit_seconds: float
    n_users: int
    item_ids: list[str]
    als: ImplicitALS | None
    popularity: np.ndarray
    clusters: ClusterModel | None
    item_model: ItemItemRecommender | None = None
    hybrid: Blend | None = None


def encode_model(model: PublishedModel) -> bytes:
    """Return ``model`` as npz bytes (no pickles: any numpy can read it)."""
    header = {"format": FORMAT, "version": model.version, "trained_at": model.trained_at,
              "fit_seconds": model.fit_seconds, "n_users": model.n_users, "item_ids": model.item_ids}
    arrays = {"header": np.array(json.dumps(header)), "popularity": np.asarray(model.popularity, np.int64)}
    if model.als is not None:
        saved = io.BytesIO()
        model.als.save(saved, users=False)
        arrays["als"] = np.frombuffer(saved.getvalue(), np.uint8)
    if model.item_model is not None and model.hybrid is not None:
        saved = io.BytesIO()
        model.item_model.save(saved, compact=True)
        arrays["item_model"] = np.frombuffer(saved.getvalue(), np.uint8)
        header["hybrid"] = {"model": type(model.item_model).__name__, **dataclasses.asdict(model.hybrid)}
        arrays["header"] = np.array(json.dumps(header))
    if model.clusters is not None:
        arrays.update(cluster_mean=model.clusters.mean_, cluster_scale=model.clusters.scale_,
                      cluster_centres=model.clusters.centres_, cluster_seen=np.array(model.clusters.n_seen_))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def decode_model(raw: bytes) -> PublishedModel:
    """Return the model in ``raw`` (bytes of :func:`encode_model`); ValueError when it is not one."""
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as saved:
            header = json.loads(str(saved["header"]))
            if header.get("format") != FORMAT:
                raise ValueError(f"model format {header.get('format')}, this code reads {FORMAT}")
            als = ImplicitALS.load(io.BytesIO(saved["als"].tobytes())) if "als" in saved else None
            clusters = (ClusterModel(saved["cluster_mean"], saved["cluster_scale"], saved["cluster_centres"],
                                     int(saved["cluster_seen"])) if "cluster_centres" in saved else None)
            popularity = saved["popularity"]
            hybrid = header.get("hybrid")
            item_model = (ITEM_MODELS[hybrid["model"]].load(io.BytesIO(saved["item_model"].tobytes()))
                          if hybrid else None)
    except (OSError, KeyError, EOFError) as exc:
        raise ValueError(f"not a published model: {exc}") from None
    return PublishedModel(header["version"], header["trained_at"], header["fit_seconds"], header["n_users"],
                          header["item_ids"], als, popularity, clusters, item_model,
                          Blend(hybrid["weight"], hybrid["normalise"]) if hybrid else None)


def model_records(raw: bytes, version: int, previous: int) -> list[LogRecord]:
    """Return the chunks of an encoded model; ``previous`` is the offset of the last manifest (-1: none)."""
    pieces = [raw[i:i + CHUNK_BYTES] for i in range(0, len(raw), CHUNK_BYTES)]
    return [LogRecord({"kind": "chunk", "version": str(version), "chunk": str(i), "chunks": str(len(pieces)),
                       "previous": str(previous)}, piece) for i, piece in enumerate(pieces)]


def manifest_record(version: int, first: int, chunks: int) -> LogRecord:
    """Return the manifest of a model whose ``chunks`` chunks start at offset ``first``."""
    return LogRecord({"kind": "manifest", "version": str(version), "first": str(first),
                      "chunks": str(chunks)}, b"")
