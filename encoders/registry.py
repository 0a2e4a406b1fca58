"""Name → factory registry: encoders are chosen by name in config.

A new encoder is one module plus one ``register`` line in :func:`_builtin`. Factories
are imported lazily so a text-only worker never imports the image or audio stacks.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from encoders.base import Encoder
from encoders.errors import UnknownEncoder

# name -> "module:attr" (lazy) or a callable
_REGISTRY: dict[str, str | Callable[..., Encoder]] = {}
_DEFAULT_KWARGS: dict[str, dict[str, Any]] = {}


def register(name: str, factory: str | Callable[..., Encoder], **defaults: Any) -> None:
    """Register ``factory`` (a callable or ``"module:attr"``) under ``name`` with default kwargs."""
    _REGISTRY[name] = factory
    _DEFAULT_KWARGS[name] = dict(defaults)


def available() -> list[str]:
    """Registered encoder names, sorted."""
    return sorted(_REGISTRY)


def create(name: str, **kwargs: Any) -> Encoder:
    """Build the encoder registered as ``name`` (loads its weights)."""
    if name not in _REGISTRY:
        raise UnknownEncoder(f"unknown encoder {name!r}; expected one of {', '.join(available())}")
    factory = _REGISTRY[name]
    if isinstance(factory, str):
        module, attr = factory.split(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(**{**_DEFAULT_KWARGS[name], **kwargs})


def _builtin() -> None:
    register("minilm-l6-v2", "encoders.text:TextEncoder", quantize=False)
    register("minilm-l6-v2-int8", "encoders.text:TextEncoder", quantize=True)
    register("efficientnet-lite0", "encoders.image:ImageEncoder")
    register("aisfx", "encoders.audio:AudioEncoder")


_builtin()


_SHARED: dict[tuple[str, tuple[tuple[str, Any], ...]], Encoder] = {}


def shared(name: str, **kwargs: Any) -> Encoder:
    """One instance per (name, kwargs) per process: weights are loaded once and reused."""
    key = (name, tuple(sorted(kwargs.items())))
    if key not in _SHARED:
        _SHARED[key] = create(name, **kwargs)
    return _SHARED[key]
