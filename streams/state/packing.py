"""Byte writer/reader for the state codecs: varints, length-prefixed strings, raw blocks.

Wire ids may hold any character (``schemas`` only bounds their length): a column of strings
is joined by NUL when none holds one (always, in practice: one C call to write and to
split), else length-prefixed. A varint is one byte below 128.
"""
from __future__ import annotations

import struct

import numpy as np

from streams.state.errors import StateError


#: Columns up to this long are packed in one Python int: a record's columns are mostly a
#: few dozen values, where numpy's four calls cost more than the loop (~7 vs ~3 µs).
SMALL_PACK = 64


def pack_bits(values: np.ndarray | list[int], width: int) -> bytes:
    """The low ``width`` (≤ 32) bits of each int, packed, little-endian bit order."""
    n = len(values)
    if width == 0 or n == 0:
        return b""
    if n <= SMALL_PACK:
        mask, acc = (1 << width) - 1, 0
        for i, v in enumerate(values.tolist() if isinstance(values, np.ndarray) else values):
            acc |= (int(v) & mask) << (i * width)
        return acc.to_bytes((n * width + 7) // 8, "little")
    a = np.asarray(values, dtype="<u4")
    every = np.unpackbits(a.view(np.uint8).reshape(a.size, 4), axis=1, bitorder="little")
    return np.packbits(every[:, :width].ravel(), bitorder="little").tobytes()


def packed_size(n: int, width: int) -> int:
    return (n * width + 7) // 8


def unpack_bits(buf: bytes | np.ndarray, n: int, width: int) -> np.ndarray:
    """Inverse of :func:`pack_bits` (uint32)."""
    if width == 0 or n == 0:
        return np.zeros(n, dtype=np.uint32)
    every = np.zeros((n, 32), dtype=np.uint8)
    raw = np.frombuffer(buf, dtype=np.uint8) if not isinstance(buf, np.ndarray) else buf
    every[:, :width] = np.unpackbits(raw, count=n * width, bitorder="little").reshape(n, width)
    return np.packbits(every, axis=1, bitorder="little").view("<u4").ravel()


class Writer:
    def __init__(self, head: bytes = b"") -> None:
        self.buf = bytearray(head)

    def uint(self, v: int) -> None:
        """Unsigned LEB128."""
        if v < 0:
            raise StateError(f"varint must be >= 0, got {v}")
        buf = self.buf
        while v >= 0x80:
            buf.append((v & 0x7F) | 0x80)
            v >>= 7
        buf.append(v)

    def uints(self, vs: list[int]) -> None:
        """A column of varints (one byte each when all are below 128, the usual case)."""
        if not vs or (max(vs) < 0x80 and min(vs) >= 0):
            self.buf += bytes(vs)
            return
        buf = self.buf
        for v in vs:
            if v < 0:
                raise StateError(f"varint must be >= 0, got {v}")
            while v >= 0x80:
                buf.append((v & 0x7F) | 0x80)
                v >>= 7
            buf.append(v)

    def sints(self, vs: list[int]) -> None:
        """A column of signed (zigzag) varints."""
        self.uints([v << 1 if v >= 0 else ((-v) << 1) - 1 for v in vs])

    def str(self, s: str) -> None:
        b = s.encode()
        self.uint(len(b))
        self.buf += b

    def strs(self, ss: list[str]) -> None:
        """A column of strings: a byte length, then the strings joined by NUL (one C call
        each way); if one of them holds a NUL itself, a 0 and then length-prefixed ones."""
        if not ss:
            return
        joined = "\0".join(ss)
        if joined.count("\0") == len(ss) - 1:
            b = joined.encode()
            self.uint(len(b) + 1)
            self.buf += b
            return
        enc = [s.encode() for s in ss]
        self.uint(0)
        self.uints([len(b) for b in enc])
        self.buf += b"".join(enc)

    def f64(self, *vs: float) -> None:
        self.buf += struct.pack(f"<{len(vs)}d", *vs)

    def f32(self, v: float) -> None:
        self.buf += struct.pack("<f", v)

    def raw(self, b: bytes) -> None:
        self.buf += b


class Reader:
    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf, self.pos = buf, pos

    def _need(self, n: int) -> int:
        at = self.pos
        if at + n > len(self.buf):
            raise StateError("user state bytes are truncated")
        self.pos = at + n
        return at

    def uint(self) -> int:
        v = shift = 0
        while True:
            b = self.buf[self._need(1)]
            v |= (b & 0x7F) << shift
            if b < 0x80:
                return v
            shift += 7
            if shift > 63:
                raise StateError("varint too long")

    def uints(self, n: int) -> list[int]:
        buf, pos = self.buf, self.pos
        head = buf[pos: pos + n]
        if len(head) == n and (n == 0 or max(head) < 0x80):  # n one-byte varints
            self.pos = pos + n
            return list(head)
        out, end = [], len(buf)
        for _ in range(n):
            v = shift = 0
            while True:
                if pos >= end:
                    raise StateError("user state bytes are truncated")
                b = buf[pos]
                pos += 1
                v |= (b & 0x7F) << shift
                if b < 0x80:
                    break
                shift += 7
                if shift > 63:
                    raise StateError("varint too long")
            out.append(v)
        self.pos = pos
        return out

    def sints(self, n: int) -> list[int]:
        return [v >> 1 if not v & 1 else -((v + 1) >> 1) for v in self.uints(n)]

    def str(self) -> str:
        return _utf8(self.raw(self.uint()))

    def strs(self, n: int) -> list[str]:
        if n == 0:
            return []
        size = self.uint()
        if size:
            out = _utf8(self.raw(size - 1)).split("\0")
            if len(out) != n:
                raise StateError(f"user state has {len(out)} strings where {n} were expected")
            return out
        lens = self.uints(n)
        blob = self.raw(sum(lens))
        out, at = [], 0
        for k in lens:
            out.append(_utf8(blob[at: at + k]))
            at += k
        return out

    def f64(self, n: int = 1) -> tuple[float, ...]:
        return struct.unpack_from(f"<{n}d", self.buf, self._need(8 * n))

    def f32(self) -> float:
        return struct.unpack_from("<f", self.buf, self._need(4))[0]

    def raw(self, n: int) -> bytes:
        at = self._need(n)
        return self.buf[at: at + n]

    def array(self, n: int, dtype: str) -> np.ndarray:
        size = n * np.dtype(dtype).itemsize
        return np.frombuffer(self.buf, dtype=dtype, count=n, offset=self._need(size))

    def end(self) -> None:
        if self.pos != len(self.buf):
            raise StateError(f"{len(self.buf) - self.pos} unexpected trailing bytes in user state")


def _utf8(b: bytes) -> str:
    try:
        return b.decode()
    except UnicodeDecodeError as exc:
        raise StateError(f"user state string is not UTF-8: {exc}") from None
