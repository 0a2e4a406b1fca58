"""Event-type weights are configuration: a new type ("purchase", "skip") is one dict entry.

Two signals come out of every event:
- ``positive`` (≥ 0) feeds the collaborative vector, item-to-item history and transitions.
  Low ratings give 0, not a negative: negative weights for low ratings hurt ranking in the
  prototype (quality-findings.md). Rating ≥ 4 → 1.0, 3 → 0.5, ≤ 2 → 0 by default.
- ``content`` (signed) feeds the content interest vector: type weights as configured
  (unfavourite subtracts); ratings use the positive map, or, with ``content_neutral`` set,
  ``(value - neutral) / content_scale`` so a 1-star rating pushes the vector away.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from streams.state.errors import MissingValue, StateError, UnknownEventType

VALUED = "rating"  # the config marker meaning "weight comes from the event's value"
DEFAULT_TYPES: dict[str, float | str] = {
    "click": 1.0, "favourite": 2.0, "unfavourite": -2.0, "dislike": -1.0, "rating": VALUED,
}
DEFAULT_RATING_STEPS: tuple[tuple[float, float], ...] = ((4.0, 1.0), (3.0, 0.5))


class Signal(NamedTuple):
    positive: float
    content: float


@dataclass(frozen=True)
class EventWeights:
    """Type → weight, plus the rating map (``rating_steps``: (min value, weight), highest first)."""

    types: Mapping[str, float | str] = field(default_factory=lambda: dict(DEFAULT_TYPES))
    rating_steps: tuple[tuple[float, float], ...] = DEFAULT_RATING_STEPS
    content_neutral: float | None = None
    content_scale: float = 2.0

    def __post_init__(self) -> None:
        bad = [f"{k}={v!r}" for k, v in self.types.items()
               if v != VALUED and (isinstance(v, bool) or not isinstance(v, (int, float)))]
        if bad:
            raise StateError(f"event weights must be numbers or {VALUED!r}; got {', '.join(bad)}")
        if self.content_scale <= 0:
            raise StateError(f"content_scale must be > 0, got {self.content_scale}")
        steps = tuple(sorted(((float(t), float(w)) for t, w in self.rating_steps), reverse=True))
        object.__setattr__(self, "rating_steps", steps)
        # The signal of a fixed-weight type never changes: one dict lookup per event.
        object.__setattr__(self, "_fixed", {t: Signal(max(float(w), 0.0), float(w))
                                            for t, w in self.types.items() if w != VALUED})

    @classmethod
    def from_specs(cls, specs: Mapping[str, Any], **kw: Any) -> "EventWeights":
        """From settings' ``event_types`` (objects with ``weight`` and ``requires_value``).

        A valued type's ``weight`` multiplies its rating-map weight; 1.0 keeps it as is.
        """
        types: dict[str, float | str] = {}
        mult: dict[str, float] = {}
        for name, spec in specs.items():
            types[name] = VALUED if spec.requires_value else float(spec.weight)
            if spec.requires_value and spec.weight != 1.0:
                mult[name] = float(spec.weight)
        if mult:
            raise StateError(f"valued types need weight 1.0 (scale the rating map instead): {mult}")
        return cls(types=types, **kw)

    def rating_weight(self, value: float) -> float:
        for threshold, weight in self.rating_steps:
            if value >= threshold:
                return weight
        return 0.0

    def signal(self, etype: str, value: float | None) -> Signal:
        """The (positive, content) weights of one event; unknown types raise."""
        fixed = self._fixed.get(etype)  # type: ignore[attr-defined]
        if fixed is not None:
            return fixed
        w = self.types.get(etype)
        if w is None:
            raise UnknownEventType(etype, list(self.types))
        if w != VALUED:
            return Signal(max(float(w), 0.0), float(w))
        if value is None:
            raise MissingValue(f"{etype!r} events need a numeric value")
        pos = self.rating_weight(value)
        if self.content_neutral is None:
            return Signal(pos, pos)
        return Signal(pos, (value - self.content_neutral) / self.content_scale)

    def is_negative(self, etype: str) -> bool:
        """Types that withdraw a positive (unfavourite, dislike) rather than add one."""
        w = self.types.get(etype)
        return w is not None and w != VALUED and float(w) < 0
