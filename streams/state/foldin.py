"""Closed-form ALS fold-in of one user against fixed item factors (Hu, Koren, Volinsky 2008).

With confidences ``c_i = alpha * w_i`` on the user's positives (preference 1) and
confidence 1 / preference 0 everywhere else (``implicit``'s convention, so factors trained
by streams.training fold in consistently), the user vector minimising
``Σ_i c_i (p_i - u·y_i)² + λ|u|²`` is

    u = (YᵀY + λI + Σ_pos (c_i - 1) y_i y_iᵀ)⁻¹ Σ_pos c_i y_i

Only the positives' rows are touched per solve because ``YᵀY`` is precomputed once per
model version: O(P·f² + f³) per user, independent of the catalogue size.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streams.state.errors import StateError


@dataclass(frozen=True, eq=False)
class CFModel:
    """One trained version of item factors prepared for fold-in (row lookup, YᵀY).

    Swapped whole when the trainer publishes a new version; build it once per version
    with :meth:`from_model` from a ``streams.training.model.CFModel`` artefact.
    """

    item_ids: Sequence[str]
    factors: np.ndarray  # (n_items, f) float32
    regularization: float = 0.01
    alpha: float = 1.0
    version: str = "0"
    _row: dict[str, int] = field(init=False, repr=False)
    _gram: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        f = np.ascontiguousarray(self.factors, dtype=np.float32)
        if f.ndim != 2 or f.shape[0] != len(self.item_ids):
            raise StateError(f"factors must be (len(item_ids)={len(self.item_ids)}, f), got {f.shape}")
        if self.regularization < 0 or self.alpha < 0:
            raise StateError("regularization and alpha must be >= 0")
        object.__setattr__(self, "factors", f)
        object.__setattr__(self, "_row", {i: n for n, i in enumerate(self.item_ids)})
        f64 = f.astype(np.float64)
        object.__setattr__(self, "_gram", f64.T @ f64)

    @classmethod
    def from_model(cls, model: Any, alpha: float | None = None) -> "CFModel":
        """From any object with item_ids, factors, regularization, version (and params)."""
        if alpha is None:
            alpha = float(getattr(model, "params", {}).get("alpha", 1.0))
        return cls(list(model.item_ids), model.factors, float(model.regularization), alpha,
                   str(model.version))

    @property
    def dim(self) -> int:
        return int(self.factors.shape[1])

    def row(self, item_id: str) -> int | None:
        return self._row.get(item_id)

    @property
    def gram(self) -> np.ndarray:
        """YᵀY (float64, f×f)."""
        return self._gram


def fold_in(model: CFModel, items: Iterable[str], weights: Iterable[float]) -> np.ndarray | None:
    """The user's CF vector from their positives, or None if none is in the model yet."""
    rows, ws = [], []
    for item, w in zip(items, weights):
        r = model.row(item)
        if r is not None and w > 0:
            rows.append(r)
            ws.append(w)
    if not rows:
        return None
    y = model.factors[rows].astype(np.float64)
    c = model.alpha * np.asarray(ws, dtype=np.float64)
    a = model.gram + (y.T * (c - 1.0)) @ y
    a[np.diag_indices_from(a)] += model.regularization
    b = y.T @ c
    try:
        u = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:  # only when λ = 0 and Y is rank-deficient
        u = np.linalg.lstsq(a, b, rcond=None)[0]
    return u.astype(np.float32)
