"""A/B variants: a stable hash of the user id picks a config variant.

The split is part of the scenario's runtime config (``{"variants": {"A": {"share": 0.5,
"weights": {...}}, "B": {...}}}``), so changing it is a control update like any other.
Hashing (not random draws) keeps a user in one variant across workers and restarts.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def bucket(user_id: str, salt: str = "") -> float:
    """A uniform number in [0, 1) fixed by (salt, user_id)."""
    h = hashlib.blake2b(f"{salt}\x00{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def assign_variant(user_id: str, shares: Mapping[str, float], salt: str = "") -> str | None:
    """The variant whose cumulative share covers the user's bucket.

    Shares are fractions of all users; those past their sum stay on the base config
    (None). Shares adding up to more than 1 are scaled down to fit.
    """
    total = sum(max(s, 0.0) for s in shares.values())
    if total <= 0:
        return None
    x = bucket(user_id, salt) * max(total, 1.0)
    acc = 0.0
    for name in sorted(shares):  # sorted: the same order on every worker
        acc += max(shares[name], 0.0)
        if x < acc:
            return name
    return None


def variant_config(config: Mapping[str, Any], user_id: str) -> tuple[str, dict[str, Any]]:
    """(variant name, effective config) for a user: the variant's fields override the base."""
    variants = config.get("variants") or {}
    shares = {name: float(v.get("share", 0.0)) for name, v in variants.items()}
    name = assign_variant(user_id, shares, salt=str(config.get("variant_salt", "")))
    if name is None:
        return "base", dict(config)
    overlay = {k: v for k, v in variants[name].items() if k != "share"}
    return name, {**{k: v for k, v in config.items() if k != "variants"}, **overlay}
