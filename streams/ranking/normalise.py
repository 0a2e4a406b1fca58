"""Per-source score normalisation before weighting (min-max was the prototype's best)."""
from __future__ import annotations

from streams.recommenders.base import Scored


def minmax(scored: Scored) -> dict[str, float]:
    """Map a source's scores onto [0, 1]: its floor (no signal) → 0, its best → 1.

    The floor is the catalogue-wide minimum when the source knows it, so an item a
    source barely likes is not stretched to look like its 200th-best on another.
    All-equal scores map to 1 (or 0 when they all sit at the known floor).
    """
    if not scored.items:
        return {}
    vals = scored.items.values()
    hi, lo = max(vals), min(vals)
    if scored.floor is not None:
        lo = min(lo, scored.floor)
    if hi <= lo:
        level = 0.0 if scored.floor is not None and hi <= scored.floor else 1.0
        return dict.fromkeys(scored.items, level)
    span = hi - lo
    return {i: (s - lo) / span for i, s in scored.items.items()}


def normalise(scored: Scored, how: str) -> dict[str, float]:
    return minmax(scored) if how == "minmax" else dict(scored.items)
