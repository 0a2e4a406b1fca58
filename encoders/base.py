"""The :class:`Encoder` protocol every modality implements.

Encoding is split in two so one bad item never fails a batch: ``preprocess`` runs per
item (decode, resample, tokenise-ready text) and raises :class:`MediaError` for bad
input; ``encode_batch`` runs one batched forward pass over already-valid inputs.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """A pretrained model turning one modality's raw input into unit vectors."""

    name: str        #: registry name, e.g. ``"minilm-l6-v2"``
    model: str       #: upstream model id, e.g. ``"sentence-transformers/all-MiniLM-L6-v2"``
    version: str     #: weights/package version (travels with every vector)
    modality: str    #: ``"text"``, ``"image"`` or ``"audio"``
    dim: int         #: output width
    device: str      #: ``"cpu"`` or ``"cuda"``

    def preprocess(self, raw: Any) -> Any:
        """Validate/convert one raw input (str for text, bytes for media); may raise MediaError."""
        ...

    def encode_batch(self, prepared: Sequence[Any]) -> np.ndarray:
        """``(n, dim)`` float32, each row L2-normalised."""
        ...


def encode(encoder: Encoder, raws: Sequence[Any]) -> np.ndarray:
    """Convenience: preprocess every input then encode them as one batch."""
    return encoder.encode_batch([encoder.preprocess(r) for r in raws])


def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise unit length (zero rows stay zero) as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, eps)
