"""Reader of the first user-state format (``GU1``), so a worker upgraded in place still
reads the changelogs its predecessor wrote. Nothing writes it any more (see ``codec``).

Layout: ``b"GU1"`` + uint32 header length + orjson header + raw little-endian blobs
(content and CF vectors as float16, seen set as uint32 hashes in LRU order, small columns).
"""
from __future__ import annotations

import struct

import numpy as np
import orjson

from streams.state.errors import StateError
from streams.state.packing import Reader
from streams.state.seen import SeenSet, fingerprints
from streams.state.user import Pending, Recent, UserState

MAGIC = b"GU1"


def from_bytes(buf: bytes) -> UserState:
    if buf[:3] != MAGIC or len(buf) < 7:
        raise StateError(f"not a user state (expected magic {MAGIC!r}, got {buf[:3]!r})")
    (hl,) = struct.unpack_from("<I", buf, 3)
    try:
        h = orjson.loads(buf[7: 7 + hl])
    except orjson.JSONDecodeError as exc:
        raise StateError(f"user state header is not JSON: {exc}") from None
    r = Reader(buf, 7 + hl)
    content = r.array(h["cd"], "<f2").astype(np.float32) if h["cd"] else None
    cf = r.array(h["fd"], "<f2").astype(np.float32) if h["fd"] else None
    # Every old hash goes to the old generation: nothing is forgotten before the next rotation.
    seen = SeenSet(fingerprints(r.array(h["ns"], "<u4")).tolist())
    nr = len(h["ri"])
    ages, rw = r.array(nr, "<f4").tolist(), r.array(nr, "<f2").tolist()
    pw = r.array(len(h["pi"]), "<f2").tolist()
    last = h["t"]
    recent = tuple(Recent(i, h["ry"][c], last - a, w)
                   for i, c, a, w in zip(h["ri"], h["rc"], ages, rw))
    return UserState(
        user_id=h["u"], content=content, content_mass=h["cm"], content_ts=h["ct"],
        cf=cf, cf_version=h["fv"] if cf is not None else None, recent=recent,
        positives=tuple(zip(h["pi"], pw)), seen=seen,
        pending=tuple(Pending(*q) for q in h["q"]), n_events=h["n"], last_ts=last,
    )
