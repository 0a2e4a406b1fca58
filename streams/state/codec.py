"""Compact bytes for a UserState (Faust table values / changelog records).

Layout ``GU2`` (little endian; ``uints``/``sints`` are columns of LEB128 varints, one byte
each below 128; ``strs`` is a column of UTF-8 byte lengths then the bytes; see
``streams.state.packing``). Columns, not records, so encoding is a few C-level calls::

    b"GU2" flags:u8 last_ts,content_mass,content_ts:f64
    counts: uints [n_events, kinds, recent, literal recent ids, positives, weights, pending]
    strings: strs [user_id, cf_version?, kind types, literal recent ids, positive ids, pending ids]
    floats: f64 [kind weights, positive weights (distinct), pending (weight, ts) pairs]
    codes: bit-packed columns, each as wide as its largest value needs:
           recent kind, recent ref, positive weight index      ages: sints(recent)
    [content: dim:uint scale:f32 int8 x dim]  [cf: the same]
    seen: ``SeenSet.write`` (two Elias-Fano coded fingerprint generations, the positives'
          fingerprints left out of ``new``: the reader recomputes them from their ids)

Vectors are int8 with one float32 scale (symmetric, scale = max|v| / 127): cosine to the
float32 vector ≥ 0.9999 at 384-d, a quarter of float32's bytes. A recent event is a kind
(its distinct (type, weight) pair) and a ``ref``: 1 + the item's index among the positives
when it is one (most are), else 0 and the id among the literal ids. Recent times are
milliseconds before ``last_ts`` as deltas (only shown, never used by a rule). Weights and the
pending list are exact. ``GU1`` (the first format) is still read.
"""
from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from streams.state import codec_v1
from streams.state.errors import StateError
from streams.state.packing import Reader, Writer, pack_bits, packed_size, unpack_bits
from streams.state.seen import SeenSet, item_fingerprints
from streams.state.user import Pending, Recent, UserState

MAGIC = b"GU2"
_FIXED = struct.Struct("<3sB3d")
_CONTENT, _CF, _CF_VERSION = 1, 2, 4


def _put_vec(w: Writer, v: np.ndarray) -> None:
    x = np.asarray(v, dtype=np.float32).ravel()
    w.uint(x.size)
    m = float(np.max(np.abs(x))) if x.size else 0.0
    if not math.isfinite(m):  # never from the rules; kept exact rather than corrupted
        w.f32(math.nan)
        w.raw(x.astype("<f4").tobytes())
        return
    scale = np.float32(m / 127.0)
    w.f32(float(scale))
    if scale == 0:
        q = np.zeros(x.size, np.int8)
    else:  # |x / scale| <= 127 up to rounding; the bounds guard tiny (subnormal) scales
        r = np.rint(x / scale)
        q = np.maximum(np.minimum(r, 127, out=r), -127, out=r).astype(np.int8)
    w.raw(q.tobytes())


def _get_vec(r: Reader) -> np.ndarray:
    n = r.uint()
    scale = np.float32(r.f32())
    if math.isnan(scale):
        return r.array(n, "<f4").astype(np.float32)
    return r.array(n, "i1").astype(np.float32) * scale


def _width(n: int) -> int:
    """Bits for an index below ``n``."""
    return (n - 1).bit_length() if n > 1 else 0


def _bits(r: Reader, n: int, width: int) -> list[int]:
    return unpack_bits(r.raw(packed_size(n, width)), n, width).tolist()


def _index(values: list[Any] | tuple[Any, ...]) -> dict[Any, int]:
    """Distinct values → their index, in order of first appearance."""
    return {v: k for k, v in enumerate(dict.fromkeys(values))}


def to_bytes(s: UserState, parts: dict[str, int] | None = None) -> bytes:
    """The state's bytes; ``parts``, if given, gets the byte count of each section."""
    flags = ((_CONTENT if s.content is not None else 0) | (_CF if s.cf is not None else 0)
             | (_CF_VERSION if s.cf_version is not None else 0))
    w = Writer(_FIXED.pack(MAGIC, flags, s.last_ts, s.content_mass, s.content_ts))
    rids, rtypes, rts, rws = zip(*s.recent) if s.recent else ((), (), (), ())
    pids, pws = zip(*s.positives) if s.positives else ((), ())
    keys = list(zip(rtypes, rws))
    kinds, palette = _index(keys), _index(pws)
    pos_ref = dict(zip(pids, range(1, len(pids) + 1)))
    refs = list(map(pos_ref.get, rids, [0] * len(rids)))
    literal = [i for i, ref in zip(rids, refs) if not ref]
    pending = s.pending
    w.uints([s.n_events, len(kinds), len(rids), len(literal), len(pids), len(palette), len(pending)])
    w.strs([s.user_id, *([s.cf_version] if s.cf_version is not None else ()), *(t for t, _ in kinds),
            *literal, *pids, *(p.item_id for p in pending)])
    w.f64(*(wt for _, wt in kinds), *palette, *(v for p in pending for v in (p.weight, p.ts)))
    w.raw(pack_bits(list(map(kinds.__getitem__, keys)), _width(len(kinds))))
    w.raw(pack_bits(refs, len(pids).bit_length()))
    w.raw(pack_bits(list(map(palette.__getitem__, pws)), _width(len(palette))))
    ages = [round((s.last_ts - t) * 1000.0) for t in rts]
    w.sints([a - b for a, b in zip(ages, [0, *ages])])
    at = len(w.buf)
    if s.content is not None:
        _put_vec(w, s.content)
    content_end = len(w.buf)
    if s.cf is not None:
        _put_vec(w, s.cf)
    cf_end = len(w.buf)
    s.seen.write(w, item_fingerprints(pids))
    if parts is not None:
        parts["content"] = content_end - at
        parts["cf"] = cf_end - content_end
        parts["seen"] = len(w.buf) - cf_end
        parts["header+columns"] = at
    return bytes(w.buf)


def from_bytes(buf: bytes) -> UserState:
    """Bytes (``GU2``, or the older ``GU1``) → state; StateError when they are not one."""
    if buf[:3] == codec_v1.MAGIC:
        return codec_v1.from_bytes(buf)
    if buf[:3] != MAGIC or len(buf) < _FIXED.size:
        raise StateError(f"not a user state (expected magic {MAGIC!r}, got {bytes(buf[:3])!r})")
    _, flags, last, mass, cts = _FIXED.unpack_from(buf)
    r = Reader(buf, _FIXED.size)
    n_events, nk, nr, nl, npos, npal, npend = r.uints(7)
    has_version = bool(flags & _CF_VERSION)
    strs = r.strs(1 + has_version + nk + nl + npos + npend)
    user_id, cf_version = strs[0], strs[1] if has_version else None
    at = 1 + has_version
    types, literal = strs[at: at + nk], strs[at + nk: at + nk + nl]
    pos_ids, pend_ids = strs[at + nk + nl: at + nk + nl + npos], strs[at + nk + nl + npos:]
    floats = r.f64(nk + npal + 2 * npend)
    kinds, palette, pend = list(zip(types, floats[:nk])), floats[nk: nk + npal], floats[nk + npal:]
    kcodes = _bits(r, nr, _width(nk))
    refs = _bits(r, nr, npos.bit_length())
    pcodes = _bits(r, npos, _width(npal))
    deltas = r.sints(nr)
    try:
        positives = tuple(zip(pos_ids, [palette[c] for c in pcodes]))
        lit = iter(literal)
        recent, age = [], 0
        for code, ref, delta in zip(kcodes, refs, deltas):
            age += delta
            t, wt = kinds[code]
            recent.append(Recent(pos_ids[ref - 1] if ref else next(lit), t, last - age / 1000.0, wt))
    except (IndexError, StopIteration):
        raise StateError("user state refers past one of its lists") from None
    content = _get_vec(r) if flags & _CONTENT else None
    cf = _get_vec(r) if flags & _CF else None
    seen = SeenSet.read(r, item_fingerprints(pos_ids))
    r.end()
    return UserState(
        user_id=user_id, content=content, content_mass=mass, content_ts=cts, cf=cf,
        cf_version=cf_version, recent=tuple(recent), positives=positives, seen=seen,
        pending=tuple(Pending(i, pend[2 * k], pend[2 * k + 1]) for k, i in enumerate(pend_ids)),
        n_events=n_events, last_ts=last,
    )
