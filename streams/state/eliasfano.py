"""Elias-Fano coding of a sorted set of distinct ints below ``2**bits ≤ 2**32`` (numpy).

Each value is split into ``low`` (its ``l`` low bits, packed fixed-width) and ``high`` (the
rest, written as a unary bitvector: bit ``high_i + i`` is set). With ``l = ⌊log2(U/n)⌋``
that is at most ``n·(l + 2) + 1`` bits, within ~2 bits per value of the information bound,
and the length follows from ``n`` and ``bits`` alone, so no size field is stored.
"""
from __future__ import annotations

import numpy as np

from streams.state.errors import StateError
from streams.state.packing import pack_bits, unpack_bits


def low_bits(n: int, bits: int) -> int:
    """The fixed-width part ``l`` for ``n`` values below ``2**bits``."""
    return 0 if n == 0 else max(0, bits - (n - 1).bit_length())  # ⌊log2(2**bits / n)⌋


def size(n: int, bits: int) -> int:
    """Bytes :func:`encode` writes for ``n`` values below ``2**bits``."""
    if n == 0:
        return 0
    lo = low_bits(n, bits)
    return (n * lo + 7) // 8 + (n + (1 << (bits - lo)) + 7) // 8


def encode(values: np.ndarray, bits: int) -> bytes:
    """Sorted, distinct, non-negative ints below ``2**bits`` (≤ 32) → ``size(n, bits)`` bytes."""
    v = np.asarray(values, dtype="<u4")
    n = v.size
    if n == 0:
        return b""
    lo = low_bits(n, bits)
    low = pack_bits(v, lo)  # pack_bits keeps the low ``lo`` bits of each value
    high = np.zeros(n + (1 << (bits - lo)), dtype=np.uint8)
    high[(v >> np.uint32(lo)).astype(np.intp) + np.arange(n)] = 1
    return low + np.packbits(high, bitorder="little").tobytes()


def decode(buf: bytes | memoryview, n: int, bits: int) -> np.ndarray:
    """Inverse of :func:`encode`: the ``n`` sorted values (uint32); StateError if malformed."""
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    if len(buf) != size(n, bits):
        raise StateError(f"Elias-Fano block is {len(buf)} bytes, expected {size(n, bits)}")
    lo = low_bits(n, bits)
    nlow = (n * lo + 7) // 8
    raw = np.frombuffer(buf, dtype=np.uint8)
    ones = np.flatnonzero(np.unpackbits(raw[nlow:], bitorder="little"))
    if ones.size != n:
        raise StateError(f"Elias-Fano block holds {ones.size} values, expected {n}")
    out = (ones - np.arange(n)).astype("<u4") << np.uint32(lo)
    if lo:
        out |= unpack_bits(raw[:nlow], n, lo)
    return out
