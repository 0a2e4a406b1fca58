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
    floors = np.array([np.nan if floor is None else floor])
    return minmax_masked(vals[:, None], np.ones((vals.size, 1), bool), floors)[:, 0]


def minmax_masked(raw: np.ndarray, present: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """:func:`minmax_values` of every column of ``raw`` at once (axis -2: the items, over the
    ``present`` cells only; ``floor`` per column, NaN: unknown). Cells not present come
    out as anything: mask them. Fusion normalises a whole batch of lists this way."""
    hi = np.where(present, raw, -np.inf).max(axis=-2, initial=-np.inf)
    lo = np.where(present, raw, np.inf).min(axis=-2, initial=np.inf)
    known = ~np.isnan(floor)
    lo = np.where(known, np.minimum(lo, floor), lo)
    flat = hi <= lo  # all equal: 1, or 0 when they all sit at the known floor
    level = np.where(known & (hi <= floor), 0.0, 1.0)
    span = np.where(flat, 1.0, hi - lo)
    with np.errstate(invalid="ignore"):  # columns with no cell present: inf - inf
        scaled = (raw - lo[..., None, :]) / span[..., None, :]
    return np.where(flat[..., None, :], level[..., None, :], scaled)


def normalise_array(scored: Scored, how: str) -> np.ndarray:
    if how == "minmax":
        return minmax_array(scored)
    return np.fromiter(scored.items.values(), dtype=np.float64, count=len(scored.items))


def minmax(scored: Scored) -> dict[str, float]:
    return dict(zip(scored.items, minmax_array(scored).tolist()))
