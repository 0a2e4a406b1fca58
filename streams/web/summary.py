"""A user's record → the JSON summary served at ``GET /users/{user_id}`` (pure)."""
from __future__ import annotations

from hashlib import blake2b
from typing import Any

import numpy as np

from streams.agents import record
from streams.state import codec


def _vec(v: np.ndarray | None, full: bool) -> dict[str, Any] | None:
    if v is None:
        return None
    out: dict[str, Any] = {"dim": int(v.size), "norm": round(float(np.linalg.norm(v)), 6)}
    if full:
        out["values"] = [float(x) for x in v]
    return out


def user_summary(raw: bytes, vectors: bool = False) -> dict[str, Any]:
    """What an operator wants to see about one user; ``state_digest`` identifies the exact state."""
    rec = record.decode(raw)
    s = rec.state
    return {
        "user_id": s.user_id,
        "n_events": s.n_events,
        "last_ts": s.last_ts,
        "content": _vec(s.content, vectors),
        "content_mass": s.content_mass,
        "cf": _vec(s.cf, vectors),
        "cf_version": s.cf_version,
        "recent": [{"item_id": r.item_id, "type": r.type, "ts": r.ts, "weight": r.weight}
                   for r in reversed(s.recent)],
        "positives": [{"item_id": i, "weight": w} for i, w in reversed(s.positives)],
        "seen": len(s.seen),
        "pending": [p.item_id for p in s.pending],
        "event_ids_kept": len(rec.event_keys),
        "state_bytes": len(raw),
        "state_digest": blake2b(codec.to_bytes(s), digest_size=12).hexdigest(),
    }
