"""The ``recommendations`` message: a user's current top-N list.

>>> rec = Recommendation("u1", 10.0, ModelInfo("als", 3), [RecommendedItem("t1", 0.9, "als")])
>>> Recommendation.from_bytes(rec.to_bytes()) == rec
True
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tables.codec import decode_object, encode

SOURCES = ("als", "hybrid", "content", "popular")


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """Which model produced a list: ``kind`` and a version that grows with every retraining."""

    kind: str
    version: int


@dataclasses.dataclass(frozen=True)
class RecommendedItem:
    """One recommended item, its score, the model that found it and why.

    ``explanation`` is ``{"kind": "als"|"hybrid"|"content"|"popular", "items": [...]}``: the user's
    played items that contributed most to the ALS score, or for a hybrid item (with ``"part"``:
    ``als`` or the item model, ``ease``/``rp3beta``, whichever its blended score owes most) to
    that part's score, or the nearest one in audio features, or none for a popular item. ``exploration`` marks an item picked from outside the user's usual
    audio-feature clusters.
    """

    item_id: str
    score: float
    source: str
    explanation: dict[str, Any] | None = None
    exploration: bool = False


@dataclasses.dataclass(frozen=True)
class Recommendation:
    """A user's recommendations, keyed by ``user_id`` on the ``recommendations`` topic."""

    user_id: str
    generated_at: float
    model: ModelInfo
    items: list[RecommendedItem]

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "Recommendation":
        """Return the recommendation in ``obj`` (as written by :meth:`to_dict`)."""
        return cls(
            user_id=obj["user_id"],
            generated_at=obj["generated_at"],
            model=ModelInfo(**obj["model"]),
            items=[RecommendedItem(**item) for item in obj["items"]],
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Recommendation":
        """Return the recommendation encoded in ``raw``."""
        return cls.from_dict(decode_object(raw))

    def to_dict(self) -> dict[str, Any]:
        """Return the recommendation as its JSON object (built by hand: ``dataclasses.asdict`` costs
        more than ranking the list)."""
        return {
            "user_id": self.user_id,
            "generated_at": self.generated_at,
            "model": {"kind": self.model.kind, "version": self.model.version},
            "items": [
                {"item_id": item.item_id, "score": item.score, "source": item.source,
                 "explanation": item.explanation, "exploration": item.exploration}
                for item in self.items
            ],
        }

    def to_bytes(self) -> bytes:
        """Return the recommendation as UTF-8 JSON."""
        return encode(self.to_dict())
