"""The wire contract's records and their validation (one module for every schema).

Parsers take the raw bytes of a Kafka value and return a frozen record or raise
:class:`~streams.errors.InvalidMessage` with a reason a person can act on. They never
raise anything else for bad input, so a worker can route every failure to
``deadletter`` with one ``except``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streams.errors import InvalidMessage
from streams.settings import EventTypeSpec
from streams.wire import loads

MAX_ID_LEN = 256
MEDIA_SOURCES = {"image": ("path", "url", "b64"), "audio": ("path", "b64")}


@dataclass(frozen=True, slots=True)
class Interaction:
    """One user feedback event from the ``interactions`` topic (key = user id)."""

    event_id: str
    type: str
    user_id: str
    item_id: str
    ts: float
    value: float | None = None
    rec_id: str | None = None
    scenario: str | None = None


@dataclass(frozen=True, slots=True)
class ItemEvent:
    """One item change from the ``items`` topic (key = item id)."""

    item_id: str
    op: str = "upsert"
    title: str = ""
    text: str = ""
    tags: tuple[str, ...] = ()
    image: Mapping[str, str] | None = None
    audio: Mapping[str, str] | None = None
    ts: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_content(self) -> bool:
        return bool(self.title or self.text or self.tags or self.image or self.audio)


# --- field helpers ----------------------------------------------------------------------
def decode_object(raw: bytes | None, max_bytes: int) -> dict[str, Any]:
    """Bytes → JSON object, or InvalidMessage saying why not."""
    if raw is None:
        raise InvalidMessage("empty value (null); expected a JSON object")
    if len(raw) > max_bytes:
        raise InvalidMessage(f"oversized: {len(raw)} bytes > limit {max_bytes}")
    try:
        obj = loads(raw)
    except ValueError as exc:
        raise InvalidMessage(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidMessage(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _req_id(obj: Mapping[str, Any], name: str) -> str:
    if name not in obj or obj[name] is None:
        raise InvalidMessage(f"missing '{name}'")
    return _id(obj[name], name)


def _id(v: Any, name: str) -> str:
    if not isinstance(v, str):
        raise InvalidMessage(f"'{name}' must be a string, got {type(v).__name__} {v!r:.40}")
    if not v or len(v) > MAX_ID_LEN:
        raise InvalidMessage(f"'{name}' must be 1..{MAX_ID_LEN} characters, got {len(v)}")
    return v


def _opt_str(obj: Mapping[str, Any], name: str, default: str | None = None) -> str | None:
    v = obj.get(name, default)
    if v is not None and not isinstance(v, str):
        raise InvalidMessage(f"'{name}' must be a string, got {type(v).__name__}")
    return v


def _number(v: Any, name: str) -> float:
    # bool is an int subclass in Python but never a valid number on the wire.
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InvalidMessage(f"'{name}' must be a finite number, got {v!r:.40}")
    return float(v)


def parse_ts(v: Any, default: float | None = None) -> float:
    """Epoch seconds (number) or ISO-8601 string → epoch seconds."""
    if v is None:
        if default is None:
            raise InvalidMessage("missing 'ts' (epoch seconds or ISO-8601)")
        return default
    if isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidMessage(f"'ts' is not ISO-8601: {v!r:.40}") from None
        return dt.timestamp()
    ts = _number(v, "ts")
    if ts < 0:
        raise InvalidMessage(f"'ts' must be >= 0, got {ts}")
    return ts


# --- interactions -----------------------------------------------------------------------
def _ok_id(v: Any) -> bool:
    return type(v) is str and 0 < len(v) <= MAX_ID_LEN


def interaction_from_dict(obj: Mapping[str, Any], types: Mapping[str, EventTypeSpec],
                          default_ts: float | None = None) -> Interaction:
    """Validate a decoded interaction against the configured event types.

    The common well-formed event takes one straight path of type checks (this runs for
    every event a worker sees); anything unusual goes through the per-field helpers, which
    say exactly what is wrong.
    """
    etype = obj.get("type")
    spec = types.get(etype) if isinstance(etype, str) else None
    if spec is None:
        raise InvalidMessage(f"unknown event type {etype!r}; known: {', '.join(sorted(types))}")
    value = obj.get("value")
    if spec.requires_value or value is not None:
        if value is None:
            raise InvalidMessage(f"'{etype}' needs a numeric 'value'")
        value = _number(value, "value")
        lo, hi = spec.min_value, spec.max_value
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise InvalidMessage(f"{etype} value {value:g} outside [{lo:g}, {hi:g}]")
    event_id, user_id, item_id = obj.get("event_id"), obj.get("user_id"), obj.get("item_id")
    if not (_ok_id(event_id) and _ok_id(user_id) and _ok_id(item_id)):
        event_id, user_id, item_id = (_req_id(obj, "event_id"), _req_id(obj, "user_id"),
                                      _req_id(obj, "item_id"))
    ts = obj.get("ts")
    tt = type(ts)
    if (tt is float or tt is int) and 0 <= ts < math.inf:
        ts = float(ts)
    else:
        ts = parse_ts(ts, default_ts)
    rec_id, scenario = obj.get("rec_id"), obj.get("scenario")
    if not ((rec_id is None or type(rec_id) is str) and (scenario is None or type(scenario) is str)):
        rec_id, scenario = _opt_str(obj, "rec_id"), _opt_str(obj, "scenario")
    return Interaction(event_id=event_id, type=etype, user_id=user_id, item_id=item_id, ts=ts,
                       value=value, rec_id=rec_id, scenario=scenario)


def parse_interaction(raw: bytes | None, types: Mapping[str, EventTypeSpec], max_bytes: int,
                      default_ts: float | None = None) -> Interaction:
    """Raw ``interactions`` value → :class:`Interaction` (or InvalidMessage)."""
    return interaction_from_dict(decode_object(raw, max_bytes), types, default_ts)


def interaction_to_dict(ev: Interaction) -> dict[str, Any]:
    """The wire form (optional fields omitted when unset)."""
    out = {"event_id": ev.event_id, "type": ev.type, "user_id": ev.user_id,
           "item_id": ev.item_id, "ts": ev.ts}
    for k in ("value", "rec_id", "scenario"):
        v = getattr(ev, k)
        if v is not None:
            out[k] = v
    return out


# --- items ------------------------------------------------------------------------------
def _media(obj: Mapping[str, Any], kind: str) -> Mapping[str, str] | None:
    m = obj.get(kind)
    if m is None:
        return None
    allowed = MEDIA_SOURCES[kind]
    if not isinstance(m, dict):
        raise InvalidMessage(f"'{kind}' must be an object with one of {allowed}")
    given = [k for k in allowed if m.get(k) is not None]
    if len(given) != 1 or not isinstance(m[given[0]], str) or not m[given[0]]:
        raise InvalidMessage(f"'{kind}' must have exactly one non-empty string of {allowed}, got {sorted(m)}")
    return {given[0]: m[given[0]]}


def item_from_dict(obj: Mapping[str, Any], default_ts: float | None = None) -> ItemEvent:
    item_id = _req_id(obj, "item_id")
    op = obj.get("op", "upsert")
    if op not in ("upsert", "delete"):
        raise InvalidMessage(f"'op' must be 'upsert' or 'delete', got {op!r:.40}")
    ts = parse_ts(obj.get("ts"), default_ts if default_ts is not None else 0.0)
    if op == "delete":
        return ItemEvent(item_id=item_id, op="delete", ts=ts)
    tags = obj.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidMessage("'tags' must be a list of strings")
    known = {"item_id", "op", "title", "text", "tags", "image", "audio", "ts"}
    ev = ItemEvent(item_id=item_id, op="upsert", title=_opt_str(obj, "title", "") or "",
                   text=_opt_str(obj, "text", "") or "", tags=tuple(tags),
                   image=_media(obj, "image"), audio=_media(obj, "audio"), ts=ts,
                   extra={k: v for k, v in obj.items() if k not in known})
    if not ev.has_content:
        raise InvalidMessage("item has no title, text, tags or media: nothing to encode")
    return ev


def parse_item(raw: bytes | None, max_bytes: int, default_ts: float | None = None) -> ItemEvent:
    """Raw ``items`` value → :class:`ItemEvent` (or InvalidMessage)."""
    return item_from_dict(decode_object(raw, max_bytes), default_ts)
