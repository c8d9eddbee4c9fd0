"""What a skip does to the skipped item in that user's next lists (``STREAMPROC_SKIP_PENALTY``).

A user's state counts, per item they only ever skipped (never played, liked or playlist-added),
how many times they skipped it (:func:`tables.user_state.add_event`). Such an item stays a
candidate for the user's lists, and each skip multiplies its standing by ``1 - penalty``:

- in a ranked list (``als``, ``content``, the ``popular`` fill, emerging): its score's height above
  the weakest of the candidates the list is chosen from (the best ``3 n`` of that source), so the
  item sinks towards the bottom of the candidates, never below it, and its score says so;
- as an exploration pick (drawn at random): its chance of being drawn.

A penalty of 1 means never again: the item is left out as a played one is. 0: a skip leaves the
lists as they were. An item with any positive event is played, and never recommended whatever
its skips. Only the user's skipped items are looked at, so a user without any costs nothing more.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from itertools import repeat

import numpy as np

NEVER = 1.0


def left_out(history: Mapping[str, float], skips: Mapping[str, int], penalty: float) -> set[str]:
    """Return the items of ``history`` no list of the user may hold: all but those only skipped
    (``skips``), or all of them when the penalty means never again.

    >>> sorted(left_out({"a": 2.0, "b": -1.0}, {"b": 1}, 0.5)), sorted(left_out({"a": 2.0, "b": -1.0}, {"b": 1}, 1.0))
    (['a'], ['a', 'b'])
    """
    if penalty >= NEVER or not skips:
        return set(history)
    return set(history).difference(skips)


def lowered(item_ids: Sequence[str], scores: np.ndarray, skips: Mapping[str, int],
            penalty: float) -> tuple[list[str], np.ndarray]:
    """Return ``item_ids`` (the candidates of one list) and their ``scores``, best first, with the score
    of each skipped item brought towards the lowest: its height above it times ``(1 - penalty) ** skips``.

    A lowered item comes after the unskipped ones of the same score; the lowest is that of the
    finite scores (an item scored -inf stays there).

    >>> ids, scores = lowered(["a", "b", "c", "d"], np.array([4.0, 3.0, 1.0, 0.0]), {"a": 1, "x": 3}, 0.5)
    >>> ids, scores.tolist()
    (['b', 'a', 'c', 'd'], [3.0, 2.0, 1.0, 0.0])
    """
    scores = np.asarray(scores, dtype=np.float64)
    # Most lists hold none of the user's skipped items: a set test, not an array, tells.
    if penalty <= 0 or skips.keys().isdisjoint(item_ids):
        return list(item_ids), scores
    counts = np.fromiter(map(skips.get, item_ids, repeat(0)), np.int64, len(item_ids))
    finite = np.isfinite(scores)
    if not finite.any():
        return list(item_ids), scores
    lowest = scores[finite].min()
    scores = np.where((counts > 0) & finite, lowest + (scores - lowest) * (1.0 - penalty) ** counts, scores)
    order = np.lexsort((np.arange(len(scores)), counts > 0, -scores))
    return [item_ids[i] for i in order.tolist()], scores[order]


def survives(skips: int, penalty: float, draw: random.Random) -> bool:
    """Return True when an item drawn at random, skipped ``skips`` times, is kept: with chance
    ``(1 - penalty) ** skips``, from ``draw`` (which is left untouched for an item never skipped).

    >>> draw = random.Random(0)
    >>> survives(0, 1.0, draw), survives(2, 1.0, draw), sum(survives(1, 0.5, draw) for _ in range(1000))
    (True, False, 508)
    """
    if skips <= 0 or penalty <= 0:
        return True
    return penalty < NEVER and draw.random() < (1.0 - penalty) ** skips
