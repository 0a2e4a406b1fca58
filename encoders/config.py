"""Encoder settings (``GENRE_ENCODER_*`` env overrides), kept beside the encoders.

The foundation ``streams.settings.Settings`` has no encoder section yet; this class
follows its conventions (pydantic-settings, frozen, validated) so it can be folded
into it later without changing any field name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class EncoderSettings(BaseSettings):
    """Which encoder serves each modality, fusion weights, batching and limits."""

    model_config = SettingsConfigDict(env_prefix="GENRE_ENCODER_", frozen=True, extra="ignore")

    text: str | None = Field(default="minilm-l6-v2", description="registry name, or None to skip text")
    image: str | None = "efficientnet-lite0"
    audio: str | None = "aisfx"
    weights: dict[str, float] = Field(default_factory=lambda: {"text": 1.0, "image": 0.5, "audio": 0.5})
    dim: int = Field(default=384, ge=8)
    seed: int = 20240601
    device: Literal["auto", "cpu", "cuda"] = "auto"

    batch_size: int = Field(default=64, ge=1, description="flush a batch at this many items …")
    batch_ms: int = Field(default=200, ge=1, description="… or when its oldest item waited this long")
    max_media_bytes: int = Field(default=10_000_000, ge=1024)
    max_item_bytes: int = Field(default=16_000_000, ge=1024, description="raw items value limit")
    media_root: Path | None = Field(default=None, description="confine media 'path' refs to this folder")
    group_id: str = "genre-encoders"

    @model_validator(mode="after")
    def _has_a_modality(self) -> "EncoderSettings":
        if not (self.text or self.image or self.audio):
            raise ValueError("at least one of text/image/audio encoders must be configured")
        return self

    def encoder_names(self) -> dict[str, str]:
        """``{modality: registry name}`` for the configured modalities."""
        named = {"text": self.text, "image": self.image, "audio": self.audio}
        return {m: n for m, n in named.items() if n}
