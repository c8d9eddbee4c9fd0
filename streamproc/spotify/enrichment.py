"""Optional lookups: the fields that enrich imported tracks, and the tracks left without them.

An import must deliver its tracks; their audio features, their artists' genres and any
field added later are extras. An :class:`Enrichment` looks one such field up in batches
and never lets a failure stop the import: any HTTP error (403, 404, 500, a 429 past its
bound), a timeout, an unreachable server, or an answer that is not JSON or not shaped as
expected. The first failure is logged as one warning and the lookup asks no more for the
rest of the run: a refusal repeats for every batch, a server error has already been
retried by the client and a timeout has already cost the full wait, so asking again per
batch would only multiply that wait (50 batches of 10 s for 5,000 tracks) for a field
the tracks can do without. :meth:`Enrichment.tally` counts the tracks that end up without
the field because of the failure, and :attr:`Enrichment.shortfall` says so for the
import's summary.

>>> upper = Enrichment("capitals", lambda batch: {key: key.upper() for key in batch}, batch_size=2)
>>> upper.lookup(["a", "b", "c"]), upper.shortfall
({'a': 'A', 'b': 'B', 'c': 'C'}, None)
>>> def refuse(batch):
...     raise SpotifyError("Spotify answered 403 to GET /v1/capitals: Forbidden", 403)
>>> refused = Enrichment("capitals", refuse, batch_size=2)
>>> refused.lookup(["a", "b", "c"])  # one request, one warning
{}
>>> for key in "abc":
...     refused.tally([key], found=False)
>>> str(refused.shortfall)
'3 without capitals (403)'
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

from streamproc.spotify.client import SpotifyError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# What reading an answer of the wrong shape raises: a missing key, a string or number where
# a list or an object was expected, a word where a number was.
SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Shortfall:
    """How many tracks lack ``field``, and why (``cause``: "403", "timeout", "not JSON", ...)."""

    field: str
    cause: str
    tracks: int

    def __str__(self) -> str:
        return f"{self.tracks} without {self.field} ({self.cause})"


class Enrichment(Generic[K, V]):
    """One optional field, looked up ``batch_size`` keys at a time by ``fetch``.

    Parameters
    ----------
    field:
        what the lookup gives, as the summary names it ("audio features", "genres").
    fetch:
        asks Spotify for one batch of keys and returns the values it gave; it may raise
        :class:`SpotifyError` or, reading an answer of the wrong shape, one of ``SHAPE_ERRORS``.
    batch_size:
        the most keys one request takes.
    consequence:
        how the import goes on without the field, for the warning.
    reasons:
        an explanation to put in the warning for a cause, such as ``{"403": "..."}``.

    Attributes
    ----------
    cause:
        the cause of the failure that stopped the lookup, None while it has not failed.
    """

    def __init__(
        self,
        field: str,
        fetch: Callable[[list[K]], Mapping[K, V]],
        batch_size: int,
        *,
        consequence: str = "",
        reasons: Mapping[str, str] | None = None,
    ) -> None:
        self.field = field
        self.fetch = fetch
        self.batch_size = batch_size
        self.consequence = consequence or f"tracks are imported without {field}"
        self.reasons = dict(reasons or {})
        self.cause: str | None = None
        self._unanswered: set[K] = set()
        self._lacking = 0

    def lookup(self, keys: Iterable[K]) -> dict[K, V]:
        """Return the values found for ``keys``; after a failure the remaining keys go unasked."""
        ordered = list(dict.fromkeys(keys))
        found: dict[K, V] = {}
        for start in range(0, len(ordered), self.batch_size):
            batch = ordered[start:start + self.batch_size]
            answer = self._fetch(batch) if self.cause is None else None
            if answer is None:
                self._unanswered.update(batch)
            else:
                found.update(answer)
        return found

    def tally(self, keys: Iterable[K], found: bool) -> None:
        """Count a track that needed ``keys`` as lacking the field if it got none for want of an answer."""
        if not found and not self._unanswered.isdisjoint(keys):
            self._lacking += 1

    @property
    def shortfall(self) -> Shortfall | None:
        """Return how many tallied tracks lack the field because of the failure, None when none do."""
        if self.cause is None or not self._lacking:
            return None
        return Shortfall(self.field, self.cause, self._lacking)

    def _fetch(self, batch: list[K]) -> Mapping[K, V] | None:
        try:
            return self.fetch(batch)
        except SpotifyError as exc:
            cause, what = exc.cause, str(exc)
        except SHAPE_ERRORS as exc:
            cause = "malformed answer"
            shape = f"{type(exc).__name__}: {exc}"
            what = f"Spotify's answer for {self.field} is not shaped as expected ({shape})"
        self.cause = cause
        reason = self.reasons.get(cause)
        log.warning("%s; %s", f"{reason} ({what})" if reason else what, self.consequence)
        return None

