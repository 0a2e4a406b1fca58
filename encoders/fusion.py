"""Fuse per-modality vectors into one item vector of a common width.

Each modality is L2-normalised, mapped to ``dim`` and weighted; the weighted sum of the
modalities an item *has* is L2-normalised again, so a text-only item and a
text+image item live on the same unit sphere and missing modalities cost nothing.

Why a fixed, seeded random orthogonal projection for image (1280-d) and audio (512-d)
instead of a learnt one: it needs no paired training data, it is identical in every
worker (same seed → same matrix, so replicas agree), and it keeps each modality's
cosine geometry — an orthonormal-column map is an exact isometry when the input is no
wider than ``dim`` and, by Johnson–Lindenstrauss, preserves cosines to within a few
hundredths when it is wider. Cross-modal alignment is *not* claimed: fusion only
mixes each item's own modalities, weighted by config. Text already has ``dim`` = 384
and passes through unchanged (identity).
"""
from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np

from encoders.base import l2_normalise
from encoders.errors import EncoderError


def orthogonal_projection(in_dim: int, out_dim: int, seed: int) -> np.ndarray:
    """``(in_dim, out_dim)`` matrix with orthonormal columns (or rows), from ``seed``."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((max(in_dim, out_dim), min(in_dim, out_dim)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # make the decomposition unique (Haar-distributed)
    return (q if in_dim >= out_dim else q.T).astype(np.float32)


class Fusion:
    """Projection + weighted sum over present modalities; pure numpy, deterministic."""

    def __init__(self, dims: Mapping[str, int], weights: Mapping[str, float],
                 dim: int = 384, seed: int = 20240601) -> None:
        unknown = set(weights) - set(dims)
        if unknown:
            raise EncoderError(f"fusion weights name modalities {sorted(unknown)} with no encoder; "
                               f"configured: {sorted(dims)}")
        if any(w < 0 for w in weights.values()):
            raise EncoderError(f"fusion weights must be >= 0, got {dict(weights)}")
        self.dim, self.seed = dim, seed
        self.weights = {m: float(weights.get(m, 1.0)) for m in dims}
        self._proj = {m: (None if d == dim else
                          orthogonal_projection(d, dim, seed + zlib.crc32(m.encode())))
                      for m, d in dims.items()}

    @property
    def version(self) -> str:
        """Identifies the exact fused space (changes when weights, dim or seed do)."""
        w = ",".join(f"{m}={self.weights[m]:g}" for m in sorted(self.weights))
        return f"orthoproj-v1;dim={self.dim};seed={self.seed};{w}"

    def project(self, modality: str, vectors: np.ndarray) -> np.ndarray:
        """Normalise then map ``(n, d_modality)`` → ``(n, dim)`` unit rows."""
        if modality not in self._proj:
            raise EncoderError(f"no projection for modality {modality!r}; known: {sorted(self._proj)}")
        x = l2_normalise(vectors)
        p = self._proj[modality]
        return x if p is None else l2_normalise(x @ p)

    def fuse(self, per_modality: Mapping[str, np.ndarray]) -> np.ndarray:
        """One item's ``{modality: vector}`` → fused unit vector; needs ≥ 1 weighted modality."""
        present = [m for m, v in per_modality.items() if v is not None and self.weights.get(m, 0) > 0]
        if not present:
            raise EncoderError(f"nothing to fuse: modalities {sorted(per_modality)} are absent "
                               f"or weighted 0 ({self.weights})")
        total = sum(self.weights[m] for m in present)
        acc = np.zeros(self.dim, np.float32)
        for m in present:
            acc += (self.weights[m] / total) * self.project(m, per_modality[m][None, :])[0]
        return l2_normalise(acc)
