"""The per-scenario runtime fusion config (the ``control`` topic's payload), validated.

Default weights are the ones chosen on the MovieLens-100K *validation* replay by
``genre eval --offline`` (docs/benchmarks.md; the test replay was never used to pick
them): session .43, transitions .26, cf .26, content .05, popularity 0 (it only fills
in for cold users, through ``fallback``). A/B variants are overlays on the scenario's
config, each with a ``share`` of users (streams.feedback.variants).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streams.ranking.errors import InvalidConfig

DEFAULT_WEIGHTS: dict[str, float] = {
    "session": 0.43, "content": 0.05, "transitions": 0.26, "cf": 0.26, "popular": 0.0,
}


def known_sources() -> list[str]:
    from streams.recommenders import names  # the registry is the list of valid source names
    return names()


class FusionConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    k: int = Field(default=10, ge=1, le=1000, description="items per recommendation list")
    # 100, 50 and 30 score alike offline (MovieLens test HR@10 0.2434 / 0.2435 / 0.2433, k = 20
    # lists; docs/benchmarks.md), and every list costs less with fewer candidates to fuse.
    candidates: int = Field(default=50, ge=1, le=10_000, description="top-N asked of each source (at least k)")
    rescore: bool = Field(default=True, description="ask every source to score every candidate")
    normalise: Literal["minmax", "none"] = "minmax"
    mmr_lambda: float = Field(default=1.0, ge=0.0, le=1.0, description="1 = no diversity re-rank")
    mmr_pool: int = Field(default=50, ge=1, le=10_000, description="items MMR chooses among")
    fallback: str | None = Field(default="popular", description="fills lists shorter than k")
    fallback_weight: float = Field(default=0.01, ge=0.0, le=1.0)
    variants: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="A/B overlays: name -> {share, any field above}")
    variant_salt: str = Field(default="", description="change to reshuffle users between variants")

    @property
    def per_source(self) -> int:
        """Candidates asked of each source: ``candidates``, but never fewer than ``k``, so a
        long list (a request's own ``k``) is not cut from short ones."""
        return max(self.candidates, self.k)

    @field_validator("variants")
    @classmethod
    def _variants(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        problems = []
        for name, overlay in v.items():
            if not isinstance(overlay, dict):
                problems.append(f"variant {name!r} must be an object")
                continue
            share = overlay.get("share", 0.0)
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
                problems.append(f"variant {name!r}: share must be a number in [0, 1], got {share!r}")
            rest = {k: x for k, x in overlay.items() if k != "share"}
            if "variants" in rest:
                problems.append(f"variant {name!r} cannot nest variants")
                continue
            try:
                FusionConfig.parse(rest)
            except InvalidConfig as exc:
                problems.append(f"variant {name!r}: {'; '.join(exc.problems)}")
        if sum(float(o.get("share", 0.0)) for o in v.values() if isinstance(o, dict)) > 1 + 1e-9:
            problems.append("variant shares add up to more than 1")
        if problems:
            raise ValueError("; ".join(problems))
        return v

    @field_validator("weights")
    @classmethod
    def _weights(cls, w: dict[str, float]) -> dict[str, float]:
        known = known_sources()
        problems = [f"unknown source {n!r} (known: {', '.join(known)})" for n in w if n not in known]
        problems += [f"weight of {n!r} must be finite and >= 0, got {v}" for n, v in w.items()
                     if not math.isfinite(v) or v < 0]
        if not problems and not any(v > 0 for v in w.values()):
            problems.append("at least one weight must be > 0")
        if problems:
            raise ValueError("; ".join(problems))
        return w

    @field_validator("fallback")
    @classmethod
    def _fallback(cls, name: str | None) -> str | None:
        if name is not None and name not in known_sources():
            raise ValueError(f"unknown fallback source {name!r}")
        return name

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> "FusionConfig":
        """Validate or raise InvalidConfig listing every problem ("field: why")."""
        if not isinstance(data, Mapping):
            raise InvalidConfig([f"expected an object, got {type(data).__name__}"])
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise InvalidConfig([
                f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()]) from None


def default_config() -> dict[str, Any]:
    return FusionConfig().model_dump()


def validate_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """The control fold's validator: the full normalised config dict, or InvalidConfig."""
    return FusionConfig.parse(data).model_dump()
