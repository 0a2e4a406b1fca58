"""Per-source score normalisation before weighting (min-max was the prototype's best)."""
from __future__ import annotations

import numpy as np

from streams.recommenders.base import Scored


def minmax_array(scored: Scored) -> np.ndarray:
    """Scores in ``scored.items`` order mapped onto [0, 1]: the floor (no signal) → 0, best → 1.

    The floor is the catalogue-wide minimum when the source knows it, so an item a
    source barely likes is not stretched to look like its 200th-best on another.
    All-equal scores map to 1 (or 0 when they all sit at the known floor).
    """
    return minmax_values(np.fromiter(scored.items.values(), dtype=np.float64, count=len(scored.items)),
                         scored.floor)


def minmax_values(vals: np.ndarray, floor: float | None) -> np.ndarray:
    """:func:`minmax_array` of raw scores already in an array (any order: element-wise)."""
    if vals.size == 0:
        return vals
    hi, lo = float(vals.max()), float(vals.min())
    if floor is not None:
        lo = min(lo, floor)
    if hi <= lo:
        level = 0.0 if floor is not None and hi <= floor else 1.0
        return np.full(vals.size, level)
    return (vals - lo) / (hi - lo)


def normalise_array(scored: Scored, how: str) -> np.ndarray:
    if how == "minmax":
        return minmax_array(scored)
    return np.fromiter(scored.items.values(), dtype=np.float64, count=len(scored.items))


def normalise_values(vals: np.ndarray, floor: float | None, how: str) -> np.ndarray:
    return minmax_values(vals, floor) if how == "minmax" else vals


def minmax(scored: Scored) -> dict[str, float]:
    return dict(zip(scored.items, minmax_array(scored).tolist()))
