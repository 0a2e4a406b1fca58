"""The versioned CF model artefact and its byte format (the payload of the ``models`` topic).

Layout: ``b"GENRECF1"``, a 4-byte big-endian header length, an orjson header, then
the factors as little-endian float32 rows. No pickle, so a worker can load an
artefact from the topic without trusting its producer with code execution.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
import orjson

MAGIC = b"GENRECF1"


class ModelFormatError(ValueError):
    """The bytes are not a CF model artefact this code can read."""


@dataclass(frozen=True)
class CFModel:
    """Item factors for the ``cf`` recommender, with what produced them."""

    item_ids: list[str]
    factors: np.ndarray  # float32, len(item_ids) x n_factors
    regularization: float
    version: str
    trained_at: float
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, float | int] = field(default_factory=dict)

    def factor_of(self) -> dict[str, np.ndarray]:
        """Item id -> factor row (views into ``factors``)."""
        return {item: self.factors[i] for i, item in enumerate(self.item_ids)}

    def to_bytes(self) -> bytes:
        factors = np.ascontiguousarray(self.factors, dtype="<f4")
        header = orjson.dumps({
            "item_ids": self.item_ids, "shape": list(factors.shape),
            "regularization": self.regularization, "version": self.version,
            "trained_at": self.trained_at, "metrics": {k: float(v) for k, v in self.metrics.items()}, "params": self.params,
        })
        return MAGIC + struct.pack(">I", len(header)) + header + factors.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> CFModel:
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
            raise ModelFormatError(f"expected a CF model starting with {MAGIC!r}, got {data[:8]!r}")
        (size,) = struct.unpack(">I", data[len(MAGIC):len(MAGIC) + 4])
        start = len(MAGIC) + 4
        try:
            head = orjson.loads(data[start:start + size])
        except orjson.JSONDecodeError as exc:
            raise ModelFormatError(f"unreadable CF model header: {exc}") from exc
        rows, cols = head["shape"]
        body = data[start + size:]
        if len(body) != rows * cols * 4 or rows != len(head["item_ids"]):
            raise ModelFormatError(f"expected {rows}x{cols} float32 factors, got {len(body)} bytes")
        factors = np.frombuffer(body, dtype="<f4").reshape(rows, cols).astype(np.float32)
        return cls(head["item_ids"], factors, float(head["regularization"]), head["version"],
                   float(head["trained_at"]), head["metrics"], head["params"])
