"""JSON decoding and field checks shared by every message type.

>>> decode_object(b'{"a": 1}')
{'a': 1}
>>> decode_object(b'[1]')
Traceback (most recent call last):
...
tables.errors.InvalidMessage: value is a JSON array, expected an object
"""

from __future__ import annotations

import json
import math
from typing import Any

from tables.errors import InvalidMessage

_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def decode_object(raw: bytes | None, max_bytes: int | None = None) -> dict[str, Any]:
    """Return the JSON object in ``raw``, or raise InvalidMessage saying why it is not one."""
    if raw is None:
        raise InvalidMessage("value is empty")
    if max_bytes is not None and len(raw) > max_bytes:
        raise InvalidMessage(f"value is {len(raw)} bytes, more than the limit of {max_bytes}")
    try:
        value = json.loads(raw)
    except UnicodeDecodeError:
        raise InvalidMessage("value is not UTF-8") from None
    except ValueError as exc:
        raise InvalidMessage(f"value is not JSON: {exc}") from None
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), "null")
        raise InvalidMessage(f"value is a JSON {kind}, expected an object")
    return value


def encode(value: dict[str, Any]) -> bytes:
    """Return ``value`` as compact UTF-8 JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def require_key(key: bytes | None, user_id: str, topic: str) -> None:
    """Raise InvalidMessage unless ``key`` is ``user_id``: a user's state lives in their key's partition,
    so a message keyed otherwise would update a copy of the user on another partition."""
    if key is None or key.decode(errors="replace") != user_id:
        raise InvalidMessage(f"key {key!r:.40} is not the user_id {user_id!r:.40}; {topic} are keyed by user")


def require_str(obj: dict[str, Any], name: str) -> str:
    """Return the non-empty string field ``name`` of ``obj``."""
    value = obj.get(name)
    if name not in obj:
        raise InvalidMessage(f"missing {name!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidMessage(f"{name!r} must be a non-empty string, got {value!r:.40}")
    return value


def optional_number(obj: dict[str, Any], name: str, default: float | None) -> float | None:
    """Return the finite number field ``name`` of ``obj``, or ``default`` when absent or null."""
    value = obj.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidMessage(f"{name!r} must be a finite number, got {value!r:.40}")
    return value


def string_list(obj: dict[str, Any], name: str) -> list[str]:
    """Return the list-of-strings field ``name`` (absent or null is an empty list)."""
    value = obj.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidMessage(f"{name!r} must be a list of strings")
    return value
