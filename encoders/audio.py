"""Audio encoder: aiSFX (Cross-dataset sound-effects CNN), 512-d.

aiSFX's own entry point reads files with essentia; this module redoes its *librosa*
preprocessing on in-memory audio: 44.1 kHz mono, peak-normalised, 96-band HTK mel
power spectrogram (2048 window, 1024 hop), ``log10(1e4·S + 1)``, min-max scaled with
the paper's constants, **transposed** to (time, mel) — the network expects time first
— and cut into 100-frame (~2.3 s) blocks with 50 % overlap. Each block yields a
512-d embedding; an item's vector is their mean, L2-normalised. The checkpoint is a
pickled ``(state_dict, dataset_dict)`` tuple, hence ``weights_only=False``: it is
loaded only from the installed package, never from user input.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from importlib.metadata import version as pkg_version

import librosa
import numpy as np
import soundfile as sf
import torch

from encoders.device import pick_device
from encoders.errors import MediaError

SAMPLE_RATE = 44_100
N_FFT, HOP, N_MELS = 2048, 1024, 96
BLOCK, BLOCK_HOP = 100, 50
SPEC_MAX = 9.457798957824707  # aiSFX 'original' normalisation (min 0)
MAX_SECONDS = 30.0


def decode_audio(data: bytes, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Audio file bytes (wav/flac/ogg) → mono float32 at 44.1 kHz, peak-normalised."""
    try:
        y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError …
        raise MediaError(f"audio: cannot decode ({type(exc).__name__}: {exc})") from None
    y = y.mean(axis=1)
    if y.size == 0 or not np.isfinite(y).all():
        raise MediaError(f"audio: empty or non-finite signal ({y.size} samples)")
    y = y[: int(max_seconds * sr)]
    if sr != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    peak = float(np.max(np.abs(y)))
    return (y / peak if peak > 0 else y).astype(np.float32)


def spectrogram_blocks(y: np.ndarray) -> np.ndarray:
    """Signal → ``(n_blocks, 100, 96)`` normalised log-mel blocks (time first)."""
    spec = librosa.feature.melspectrogram(
        y=y, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT, n_mels=N_MELS,
        fmin=0.0, fmax=SAMPLE_RATE / 2, htk=True, norm=1.0, power=2.0)
    spec = (np.log10(spec * 10_000.0 + 1.0) / SPEC_MAX).T.astype(np.float32)  # (frames, mels)
    n_blocks = max(1, (spec.shape[0] - BLOCK) // BLOCK_HOP + 1)
    padded = np.vstack([spec, np.zeros((BLOCK, N_MELS), np.float32)])
    return np.stack([padded[i * BLOCK_HOP: i * BLOCK_HOP + BLOCK] for i in range(n_blocks)])


class AudioEncoder:
    """Mean of aiSFX block embeddings, L2-normalised (512-d)."""

    modality = "audio"
    model = "aisfx/X-Sequential-CE"
    name = "aisfx"
    dim = 512

    def __init__(self, device: str = "auto", max_blocks_per_pass: int = 256) -> None:
        from aisfx.inference import get_path_modelWeights, load_bestModel

        dev = pick_device(device)
        weights, ds_dict = torch.load(get_path_modelWeights(), map_location="cpu", weights_only=False)
        self.net = load_bestModel(weights, ds_dict, dev.type)
        self.device = dev.type
        self._torch_device = dev
        self.max_blocks = max_blocks_per_pass
        self.version = f"aisfx=={pkg_version('aisfx')}"

    def preprocess(self, raw: bytes) -> np.ndarray:
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise MediaError(f"audio: expected bytes, got {type(raw).__name__}")
        return spectrogram_blocks(decode_audio(bytes(raw)))

    @torch.inference_mode()
    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        """Block embeddings ``(n_blocks, 512)`` (the bare model step)."""
        return self.net.get_embedding(blocks.to(self._torch_device))

    def encode_batch(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        if not prepared:
            return np.zeros((0, self.dim), np.float32)
        blocks = np.concatenate(prepared)
        embs = np.concatenate([
            self.forward(torch.from_numpy(blocks[s:s + self.max_blocks])).float().cpu().numpy()
            for s in range(0, len(blocks), self.max_blocks)])
        bounds = np.cumsum([0] + [len(p) for p in prepared])
        out = np.stack([embs[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)
