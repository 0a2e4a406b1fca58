"""Items → vectors: media loading, per-modality batched encoding, fusion.

Pure of Kafka: it takes parsed :class:`~streams.schemas.ItemEvent` records and returns,
per item, either an :class:`EncodedItem` or a :class:`Rejected` with a reason. One bad
image rejects its own item only; the rest of the batch is still encoded together.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoders import registry
from encoders.base import Encoder
from encoders.config import EncoderSettings
from encoders.errors import MediaError
from encoders.fusion import Fusion
from encoders.media import load_media
from encoders.text import item_text
from streams.schemas import ItemEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodedItem:
    """One item's fused vector plus what it was made of."""

    item_id: str
    vector: np.ndarray
    modalities: Mapping[str, np.ndarray]
    model: Mapping[str, str]
    ts: float

    def to_wire(self) -> dict[str, Any]:
        """The ``item-vectors`` value (README: wire contract); arrays serialise via streams.wire."""
        return {"item_id": self.item_id, "vector": self.vector,
                "modalities": dict(self.modalities),
                "model": dict(self.model), "dim": int(self.vector.shape[0]), "ts": self.ts}


@dataclass(frozen=True)
class Rejected:
    """An item that cannot be encoded, and why (goes to the dead-letter topic)."""

    item_id: str
    reason: str


class ItemPipeline:
    """Encoders by modality + fusion; ``encode_items`` is the only entry point."""

    def __init__(self, encoders: Mapping[str, Encoder], fusion: Fusion, max_media_bytes: int = 10_000_000,
                 media_root: Path | None = None) -> None:
        self.encoders = dict(encoders)
        self.fusion = fusion
        self.max_media_bytes = max_media_bytes
        self.media_root = media_root
        self.model = {e.model: e.version for e in self.encoders.values()} | {"fusion": fusion.version}

    def _raw_inputs(self, item: ItemEvent) -> dict[str, Any]:
        raws: dict[str, Any] = {}
        if "text" in self.encoders:
            text = item_text(item.title, item.text, item.tags)
            if text:
                raws["text"] = text
        for kind, ref in (("image", item.image), ("audio", item.audio)):
            if ref is not None and kind in self.encoders:
                raws[kind] = load_media(ref, kind, self.max_media_bytes, self.media_root)
        if not raws:
            raise MediaError(f"item has no encodable content: expected text or media for "
                             f"{sorted(self.encoders)}, got title/text/tags empty, "
                             f"image={'set' if item.image else 'none'}, audio={'set' if item.audio else 'none'}")
        return raws

    def _prepare(self, items: Sequence[ItemEvent]) -> tuple[dict[str, list[tuple[int, Any]]], dict[int, str]]:
        """Per modality, the (item index, preprocessed input) pairs; per bad item, its reason."""
        inputs: dict[str, list[tuple[int, Any]]] = {}
        errors: dict[int, str] = {}
        for i, item in enumerate(items):
            try:
                prepared = {m: self.encoders[m].preprocess(raw) for m, raw in self._raw_inputs(item).items()}
            except MediaError as exc:
                errors[i] = exc.reason
                continue
            for m, p in prepared.items():
                inputs.setdefault(m, []).append((i, p))
        return inputs, errors

    def encode_items(self, items: Sequence[ItemEvent]) -> list[EncodedItem | Rejected]:
        """Encode ``items`` (upserts) in one batched pass per modality; order is kept."""
        inputs, errors = self._prepare(items)
        vectors: dict[int, dict[str, np.ndarray]] = {}
        for m, pairs in inputs.items():
            out = self.encoders[m].encode_batch([p for _, p in pairs])
            for (i, _), v in zip(pairs, out):
                vectors.setdefault(i, {})[m] = v
        now = time.time()
        results: list[EncodedItem | Rejected] = []
        for i, item in enumerate(items):
            if i in errors:
                results.append(Rejected(item.item_id, errors[i]))
                continue
            mods = vectors[i]
            used = {self.encoders[m].model: self.encoders[m].version for m in mods}
            results.append(EncodedItem(
                item_id=item.item_id, vector=self.fusion.fuse(mods), modalities=mods,
                model=used | {"fusion": self.fusion.version}, ts=item.ts or now))
        return results


def build_pipeline(cfg: EncoderSettings | None = None) -> ItemPipeline:
    """Load the configured encoders (real weights) and the fusion they feed."""
    cfg = cfg or EncoderSettings()
    encoders = {m: registry.create(name, device=cfg.device) for m, name in cfg.encoder_names().items()}
    fusion = Fusion({m: e.dim for m, e in encoders.items()},
                    {m: cfg.weights.get(m, 1.0) for m in encoders}, dim=cfg.dim, seed=cfg.seed)
    log.info("encoders ready: %s on %s", {m: e.name for m, e in encoders.items()},
             {e.device for e in encoders.values()})
    return ItemPipeline(encoders, fusion, cfg.max_media_bytes, cfg.media_root)
