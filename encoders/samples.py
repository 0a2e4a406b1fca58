"""Synthetic media made with numpy/PIL/soundfile, for tests, benchmarks and smoke checks.

Nothing to download: every sample is generated from a seed, so a check that fails
can be replayed exactly.
"""
from __future__ import annotations

import io

import numpy as np
import soundfile as sf
from PIL import Image, ImageDraw, ImageEnhance


def _png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, quality=90) if fmt == "JPEG" else img.save(buf, format=fmt)
    return buf.getvalue()


def scene_image(seed: int, size: int = 256) -> Image.Image:
    """A random composition of coloured shapes on a gradient (different per seed)."""
    rng = np.random.default_rng(seed)
    base = np.linspace(rng.uniform(0, 255, 3), rng.uniform(0, 255, 3), size, dtype=np.float32)
    img = Image.fromarray(np.repeat(base[:, None, :], size, axis=1).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.integers(0, size - 40, 2)
        w, h = rng.integers(20, size // 2, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        box = (int(x0), int(y0), int(x0 + w), int(y0 + h))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return img


def image_bytes(seed: int, fmt: str = "PNG") -> bytes:
    return _png(scene_image(seed), fmt)


def altered_image_bytes(seed: int) -> bytes:
    """The same scene, 6 % brighter, cropped by a few pixels and JPEG re-encoded."""
    img = ImageEnhance.Brightness(scene_image(seed)).enhance(1.06)
    return _png(img.crop((4, 4, img.width - 4, img.height - 4)), "JPEG")


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y.astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def tone(seed: int, seconds: float = 4.0, sr: int = 22_050) -> np.ndarray:
    """A harmonic note sequence with an envelope (musical, pitched)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for start in np.arange(0, seconds, 0.5):
        f0 = rng.choice([220.0, 262.0, 330.0, 392.0, 440.0])
        env = np.clip((t - start) * 20, 0, 1) * np.exp(-np.clip(t - start, 0, None) * 4) * (t >= start)
        y += env * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def clicks(seed: int, seconds: float = 4.0, sr: int = 22_050) -> np.ndarray:
    """Filtered noise bursts (percussive, unpitched)."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * sr), np.float32)
    for start in rng.integers(0, len(y) - 2000, 16):
        burst = rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300)
        y[start:start + 2000] += burst.astype(np.float32)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def audio_bytes(kind: str, seed: int, sr: int = 22_050) -> bytes:
    """``kind`` = ``"tone"`` or ``"clicks"``."""
    return wav_bytes((tone if kind == "tone" else clicks)(seed, sr=sr), sr)


def altered_audio_bytes(kind: str, seed: int, sr: int = 22_050) -> bytes:
    """Same sound at 80 % gain, shifted 20 ms, with faint (-60 dB) noise."""
    y = (tone if kind == "tone" else clicks)(seed, sr=sr)
    y = 0.8 * np.concatenate([np.zeros(int(0.02 * sr), np.float32), y])
    y += np.random.default_rng(seed + 1).standard_normal(len(y)).astype(np.float32) * 0.0003
    return wav_bytes(y, sr)
