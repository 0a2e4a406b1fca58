"""Index settings (``GENRE_INDEX_*`` env overrides), beside the index like encoders/config.py."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IndexSettings(BaseSettings):
    """FAISS structure, tuning and replica snapshot policy."""

    model_config = SettingsConfigDict(env_prefix="GENRE_INDEX_", frozen=True, extra="ignore")

    kind: Literal["auto", "flat", "hnsw"] = Field(
        default="auto", description="auto: exact flat until auto_hnsw_min live vectors, then HNSW "
                                    "(on a GPU: flat on the GPU at any size)")
    dim: int = Field(default=384, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    auto_hnsw_min: int = Field(default=50_000, ge=1)
    hnsw_m: int = Field(default=32, ge=4)
    hnsw_ef_construction: int = Field(default=80, ge=8)
    hnsw_ef_search: int = Field(default=128, ge=1, description="raised to k when k is larger")
    rebuild_dead_fraction: float = Field(default=0.25, gt=0, le=1,
                                         description="compact when tombstones exceed this share")
    rebuild_min_dead: int = Field(default=1_000, ge=0)
    exact_allow_max: int = Field(default=20_000, ge=0,
                                 description="allow-lists up to this size are scored exactly")

    snapshot_dir: Path = Path(".state/index")
    snapshot_every_s: float = Field(default=60.0, gt=0)
    snapshot_every_updates: int = Field(default=10_000, ge=1)
