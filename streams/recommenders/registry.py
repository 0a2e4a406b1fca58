"""Name → factory registry: a new algorithm is one module plus one ``@register`` line."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from streams.recommenders.base import Recommender, RecommenderError, UnknownRecommender

F = TypeVar("F", bound=Callable[..., Recommender])
_FACTORIES: dict[str, Callable[..., Recommender]] = {}


def register(name: str) -> Callable[[F], F]:
    def deco(factory: F) -> F:
        if name in _FACTORIES and _FACTORIES[name] is not factory:
            raise RecommenderError(f"recommender {name!r} is already registered")
        _FACTORIES[name] = factory
        return factory
    return deco


def create(name: str, **params: Any) -> Recommender:
    """Build the named recommender; its dependencies (stats, index, model) come as params."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise UnknownRecommender(name, list(_FACTORIES))
    try:
        return factory(**params)
    except TypeError as exc:  # wrong/missing params: say which recommender
        raise RecommenderError(f"cannot create {name!r}: {exc}") from None


def names() -> list[str]:
    return sorted(_FACTORIES)
