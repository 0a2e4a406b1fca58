"""Name → factory registry for vector indexes (chosen by name in config)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from index.base import VectorIndex
from index.config import IndexSettings
from index.errors import VectorIndexError
from index.faiss_index import FaissIndex

_REGISTRY: dict[str, Callable[..., VectorIndex]] = {
    "faiss-flat": lambda cfg=None, **kw: FaissIndex(cfg, kind="flat", **kw),
    "faiss-hnsw": lambda cfg=None, **kw: FaissIndex(cfg, kind="hnsw", **kw),
    "faiss-auto": lambda cfg=None, **kw: FaissIndex(cfg, kind="auto", **kw),
}


def register(name: str, factory: Callable[..., VectorIndex]) -> None:
    _REGISTRY[name] = factory


def available() -> list[str]:
    return sorted(_REGISTRY)


def create(name: str, cfg: IndexSettings | None = None, **overrides: Any) -> VectorIndex:
    """Build the index registered as ``name``; ``overrides`` patch ``cfg`` fields."""
    if name not in _REGISTRY:
        raise VectorIndexError(f"unknown index {name!r}; expected one of {', '.join(available())}")
    return _REGISTRY[name](cfg, **overrides)
