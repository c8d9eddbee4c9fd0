"""The ``controls`` message: a listener's control over their own recommendations, and its table state.

A control is keyed by ``user_id`` on ``controls``, a topic co-partitioned with ``listens`` (same key,
same partition count), so the user's control state lives next to their history.

>>> c = Control.from_bytes(b'{"user_id": "u1", "action": "exclude_artist", "artist": "ABBA"}')
>>> state = apply_control(None, c, offset=4)
>>> state["excluded_artists"], Preferences.from_state(state).excludes(["abba"])
(['ABBA'], True)
>>> Control.from_bytes(b'{"user_id": "u1", "action": "diversity", "novelty": 2}')
Traceback (most recent call last):
...
tables.errors.InvalidMessage: 'novelty' must be between 0 and 1, got 2
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from tables.codec import decode_object, encode, optional_number, require_str
from tables.errors import InvalidMessage

# Changes to the user's control state.
STATE_ACTIONS = ("opt_out", "opt_in", "exclude_artist", "include_artist", "diversity")
# ``forget`` deletes the user's state everywhere; ``playlist`` asks for the user's playlist of ``kind``.
ACTIONS = (*STATE_ACTIONS, "forget", "playlist")
PLAYLIST_KINDS = ("discover", "emerging")
MAX_EXCLUDED_ARTISTS = 1000


@dataclasses.dataclass(frozen=True)
class Control:
    """One control event of one listener, keyed by ``user_id`` on the ``controls`` topic."""

    user_id: str
    action: str
    artist: str | None = None
    max_per_artist: int | None = None
    novelty: float | None = None
    kind: str | None = None
    request_id: str | None = None
    ts: float = dataclasses.field(default_factory=time.time)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "Control":
        """Return the validated control in ``obj``; raise InvalidMessage with the reason."""
        user_id = require_str(obj, "user_id")
        action = obj.get("action")
        if action not in ACTIONS:
            raise InvalidMessage(f"'action' must be one of {', '.join(ACTIONS)}; got {action!r:.40}")
        artist = require_str(obj, "artist") if action in ("exclude_artist", "include_artist") else None
        max_per_artist = novelty = kind = request_id = None
        if action == "diversity":
            max_per_artist = obj.get("max_per_artist")
            if max_per_artist is not None and (
                isinstance(max_per_artist, bool) or not isinstance(max_per_artist, int) or max_per_artist < 0
            ):
                raise InvalidMessage(f"'max_per_artist' must be an integer ≥ 0, got {max_per_artist!r:.40}")
            novelty = optional_number(obj, "novelty", None)
            if novelty is not None and not 0.0 <= novelty <= 1.0:
                raise InvalidMessage(f"'novelty' must be between 0 and 1, got {novelty!r:.40}")
            if max_per_artist is None and novelty is None:
                raise InvalidMessage("a 'diversity' control needs 'max_per_artist' or 'novelty'")
        if action == "playlist":
            kind = obj.get("kind")
            if kind not in PLAYLIST_KINDS:
                raise InvalidMessage(f"'kind' must be one of {', '.join(PLAYLIST_KINDS)}; got {kind!r:.40}")
            request_id = obj.get("request_id")
            if request_id is not None and not isinstance(request_id, str):
                raise InvalidMessage("'request_id' must be a string")
        ts = optional_number(obj, "ts", None)
        return cls(user_id, action, artist, max_per_artist, novelty, kind, request_id,
                   time.time() if ts is None else float(ts))

    @classmethod
    def from_bytes(cls, raw: bytes | None, max_bytes: int | None = None) -> "Control":
        """Return the control encoded in ``raw``; raise InvalidMessage with the reason."""
        return cls.from_dict(decode_object(raw, max_bytes))

    def to_dict(self) -> dict[str, Any]:
        """Return the control as its JSON object, without the fields its action does not use."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def to_bytes(self) -> bytes:
        """Return the control as UTF-8 JSON."""
        return encode(self.to_dict())


def empty_state() -> dict[str, Any]:
    """Return the control state of a user who never sent a control."""
    return {"opted_out": False, "excluded_artists": [], "max_per_artist": None, "novelty": 0.0, "offset": -1}


def apply_control(state: dict[str, Any] | None, control: Control, offset: int) -> dict[str, Any]:
    """Return the user's control ``state`` (a ``user_controls`` table value) with ``control`` applied.

    A control at an ``offset`` already applied leaves the state unchanged (a redelivery).

    >>> s = apply_control(None, Control("u", "opt_out"), 0)
    >>> s = apply_control(s, Control("u", "diversity", max_per_artist=1, novelty=0.5), 1)
    >>> s["opted_out"], s["max_per_artist"], s["novelty"]
    (True, 1, 0.5)
    >>> apply_control(s, Control("u", "opt_in"), 1) == s
    True
    """
    state = dict(empty_state() if state is None else state)
    if offset <= state["offset"]:
        return state
    if control.action in ("opt_out", "opt_in"):
        state["opted_out"] = control.action == "opt_out"
    elif control.action in ("exclude_artist", "include_artist"):
        others = [a for a in state["excluded_artists"] if a.casefold() != control.artist.casefold()]
        state["excluded_artists"] = (
            others + [control.artist] if control.action == "exclude_artist" else others
        )[-MAX_EXCLUDED_ARTISTS:]
    elif control.action == "diversity":
        if control.max_per_artist is not None:
            state["max_per_artist"] = control.max_per_artist
        if control.novelty is not None:
            state["novelty"] = control.novelty
    else:
        raise ValueError(f"{control.action!r} does not change the control state")
    state["offset"] = offset
    return state


@dataclasses.dataclass(frozen=True)
class Preferences:
    """What ranking needs of a user's control state."""

    opted_out: bool = False
    excluded_artists: frozenset[str] = frozenset()
    max_per_artist: int | None = None
    novelty: float = 0.0

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> "Preferences":
        """Return the preferences in a ``user_controls`` value (None: the defaults)."""
        if not state:
            return cls()
        return cls(
            opted_out=bool(state.get("opted_out")),
            excluded_artists=frozenset(a.casefold() for a in state.get("excluded_artists") or ()),
            max_per_artist=state.get("max_per_artist"),
            novelty=float(state.get("novelty") or 0.0),
        )

    def excludes(self, artists: list[str]) -> bool:
        """Return True when any of ``artists`` is excluded (case-insensitively)."""
        return bool(self.excluded_artists) and any(a.casefold() in self.excluded_artists for a in artists)
