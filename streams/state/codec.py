"""Compact bytes for a UserState (Faust table values / changelog records).

Layout: ``b"GU1"`` + uint32 header length + orjson header + raw little-endian blobs
(content and CF vectors as float16, seen set as uint32 hashes, small numeric columns).
float16 keeps ~3 significant digits: plenty for cosine ranking, half the bytes of float32.
"""
from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from streams.state.errors import StateError
from streams.state.user import Pending, Recent, UserState

MAGIC = b"GU1"


def _blob(arr: np.ndarray | None, dtype: str) -> bytes:
    return b"" if arr is None else np.asarray(arr, dtype=dtype).tobytes()


def to_bytes(s: UserState) -> bytes:
    types = sorted({r.type for r in s.recent})
    code = {t: i for i, t in enumerate(types)}
    header: dict[str, Any] = {
        "u": s.user_id, "n": s.n_events, "t": s.last_ts,
        "cm": s.content_mass, "ct": s.content_ts,
        "cd": 0 if s.content is None else int(s.content.size),
        "fd": 0 if s.cf is None else int(s.cf.size), "fv": s.cf_version,
        "ri": [r.item_id for r in s.recent], "ry": types, "rc": [code[r.type] for r in s.recent],
        "pi": [i for i, _ in s.positives],
        "q": [[p.item_id, p.weight, p.ts] for p in s.pending],
        "ns": len(s.seen),
    }
    h = orjson.dumps(header)
    rts = np.asarray([s.last_ts - r.ts for r in s.recent], dtype="<f4")  # age, so f4 keeps precision
    parts = [
        MAGIC, struct.pack("<I", len(h)), h,
        _blob(s.content, "<f2"), _blob(s.cf, "<f2"),
        np.fromiter(s.seen.keys(), dtype="<u4", count=len(s.seen)).tobytes(),
        rts.tobytes(), _blob(np.asarray([r.weight for r in s.recent]), "<f2"),
        _blob(np.asarray([w for _, w in s.positives]), "<f2"),
    ]
    return b"".join(parts)


class _Reader:
    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos

    def take(self, n: int, dtype: str) -> np.ndarray:
        size = n * np.dtype(dtype).itemsize
        if self.pos + size > len(self.buf):
            raise StateError("user state bytes are truncated")
        a = np.frombuffer(self.buf, dtype=dtype, count=n, offset=self.pos)
        self.pos += size
        return a


def from_bytes(buf: bytes) -> UserState:
    if buf[:3] != MAGIC or len(buf) < 7:
        raise StateError(f"not a user state (expected magic {MAGIC!r}, got {buf[:3]!r})")
    (hl,) = struct.unpack_from("<I", buf, 3)
    try:
        h = orjson.loads(buf[7: 7 + hl])
    except orjson.JSONDecodeError as exc:
        raise StateError(f"user state header is not JSON: {exc}") from None
    r = _Reader(buf, 7 + hl)
    content = r.take(h["cd"], "<f2").astype(np.float32) if h["cd"] else None
    cf = r.take(h["fd"], "<f2").astype(np.float32) if h["fd"] else None
    seen = dict.fromkeys(r.take(h["ns"], "<u4").tolist())
    nr = len(h["ri"])
    ages, rw = r.take(nr, "<f4").tolist(), r.take(nr, "<f2").tolist()
    pw = r.take(len(h["pi"]), "<f2").tolist()
    last = h["t"]
    recent = tuple(Recent(i, h["ry"][c], last - a, w)
                   for i, c, a, w in zip(h["ri"], h["rc"], ages, rw))
    return UserState(
        user_id=h["u"], content=content, content_mass=h["cm"], content_ts=h["ct"],
        cf=cf, cf_version=h["fv"] if cf is not None else None, recent=recent,
        positives=tuple(zip(h["pi"], pw)), seen=seen,
        pending=tuple(Pending(*q) for q in h["q"]), n_events=h["n"], last_ts=last,
    )
