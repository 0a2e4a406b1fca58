"""What every worker keeps from the compacted topics: item vectors and the current CF model.

Both are fed by :class:`~streams.agents.follow.TopicFollower` (all partitions, every
worker) and read by the user-state agent through plain lookups.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from prometheus_client import Gauge

from streams.errors import InvalidMessage
from streams.state.foldin import CFModel as CFFactors
from streams.training.model import CFModel as CFArtefact
from streams.training.model import ModelFormatError
from streams.wire import loads

log = logging.getLogger(__name__)

ITEM_VECTORS = Gauge("genre_worker_item_vectors", "Item vectors held by this worker")


def parse_item_vector(key: bytes | None, value: bytes | None) -> tuple[str, np.ndarray | None]:
    """An ``item-vectors`` record → (item id, float32 vector), or (item id, None) for a tombstone."""
    if value is None:
        if not key:
            raise InvalidMessage("tombstone without a key")
        return key.decode("utf-8", "replace"), None
    try:
        obj = loads(value)
    except ValueError as exc:
        raise InvalidMessage(f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("item_id"), str):
        raise InvalidMessage("expected an object with a string 'item_id'")
    vec = obj.get("vector")
    if vec is None:
        return obj["item_id"], None
    try:
        arr = np.asarray(vec, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidMessage("'vector' must be a list of numbers") from None
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise InvalidMessage(f"'vector' must be a non-empty finite 1-d list, got shape {arr.shape}")
    return obj["item_id"], arr


class ItemVectors:
    """item id → content vector (float32). Lookups are what the state rules call."""

    def __init__(self) -> None:
        self._vectors: dict[str, np.ndarray] = {}
        self.rejected = 0
        #: Called with (item id, new vector or None) after each change; the ranking agent
        #: feeds its FAISS index from here instead of following the topic a second time.
        self.listeners: list[Callable[[str, np.ndarray | None], None]] = []

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, item_id: str) -> np.ndarray | None:
        return self._vectors.get(item_id)

    def put(self, item_id: str, vector: np.ndarray | None) -> None:
        if vector is None:
            self._vectors.pop(item_id, None)
        else:
            self._vectors[item_id] = vector
        ITEM_VECTORS.set(len(self._vectors))
        for listener in self.listeners:
            listener(item_id, vector)

    def on_record(self, key: bytes | None, value: bytes | None, partition: int, offset: int,
                  ts: float = 0.0) -> None:
        try:
            item_id, vec = parse_item_vector(key, value)
        except InvalidMessage as exc:
            self.rejected += 1
            log.warning("item-vectors[%d]@%d ignored: %s", partition, offset, exc.reason)
            return
        self.put(item_id, vec)


def cf_model_from_bytes(raw: bytes) -> CFFactors:
    """A ``models`` artefact (streams.training.model) → the fold-in factors of streams.state."""
    return CFFactors.from_model(CFArtefact.from_bytes(raw))


class CurrentModel:
    """The newest readable CF model from the ``models`` topic (None until one arrives)."""

    def __init__(self) -> None:
        self.model: CFFactors | None = None
        self.rejected = 0

    def get(self) -> CFFactors | None:
        return self.model

    def on_record(self, key: bytes | None, value: bytes | None, partition: int, offset: int,
                  ts: float = 0.0) -> None:
        if value is None:
            return  # a tombstone retires an artefact; keep serving the one we have
        try:
            self.model = cf_model_from_bytes(value)
        except (ModelFormatError, ValueError, KeyError) as exc:
            self.rejected += 1
            log.warning("models[%d]@%d ignored: %s", partition, offset, exc)
            return
        log.info("CF model %s loaded (%d items x %d)", self.model.version,
                 len(self.model.item_ids), self.model.dim)
