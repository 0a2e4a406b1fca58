"""Exponential time decay with a half-life; ``inf`` half-life means plain counts."""
from __future__ import annotations

import math

import numpy as np

LN2 = math.log(2.0)


def decay_factor(dt: float, half_life: float) -> float:
    """Weight left after ``dt`` seconds. Out-of-order events (dt < 0) are not amplified."""
    if dt <= 0 or math.isinf(half_life):
        return 1.0
    return math.exp(-LN2 * dt / half_life)


class DecayedCounts:
    """Per-index decayed sums in O(1) per update, without touching the other entries.

    Stores ``s_i = Σ w · 2^((t - t_ref)/h)``; the value at time t is ``s_i · 2^(-(t - t_ref)/h)``.
    ``t_ref`` is moved forward (one rescale of the array) before the exponent overflows.
    Events older than ``t_ref`` simply count with a smaller weight, so order does not matter.
    """

    _REBASE = 400.0  # rescale once 2^(dt/h) would exceed ~2^400

    def __init__(self, half_life: float) -> None:
        if not half_life > 0:
            raise ValueError(f"half_life must be > 0 seconds, got {half_life}")
        self.half_life = float(half_life)
        self.t_ref: float | None = None
        self.values = np.zeros(64, dtype=np.float64)
        self.total = 0.0

    def _scale(self, t: float) -> float:
        if math.isinf(self.half_life):
            return 1.0
        if self.t_ref is None:
            self.t_ref = t
        e = (t - self.t_ref) / self.half_life
        if e > self._REBASE:
            shrink = 2.0 ** -e
            self.values *= shrink
            self.total *= shrink
            self.t_ref, e = t, 0.0
        return 2.0 ** e

    def add(self, idx: int, weight: float, t: float) -> None:
        if idx >= self.values.size:
            grown = np.zeros(max(idx + 1, 2 * self.values.size), dtype=np.float64)
            grown[: self.values.size] = self.values
            self.values = grown
        w = weight * self._scale(t)
        self.values[idx] += w
        self.total += w

    def at(self, t: float, n: int | None = None) -> np.ndarray:
        """Decayed values of the first ``n`` indices at time ``t`` (a new array)."""
        v = self.values[: self.values.size if n is None else n]
        if math.isinf(self.half_life) or self.t_ref is None:
            return v.copy()
        return v * 2.0 ** (-(t - self.t_ref) / self.half_life)

    def total_at(self, t: float) -> float:
        if math.isinf(self.half_life) or self.t_ref is None:
            return self.total
        return self.total * 2.0 ** (-(t - self.t_ref) / self.half_life)

    def clear(self, idx: int) -> None:
        if idx < self.values.size:
            self.total -= self.values[idx]
            self.values[idx] = 0.0
