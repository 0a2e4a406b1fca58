"""The users-table value: a user's state plus the ids of the events already applied to it.

Keeping the recent event ids *inside the same value* as the state is what makes replays
idempotent: the changelog record that carries a state change also carries "this event is
in", so after a crash (offsets committed behind the changelog) or a rebalance the replayed
events are recognised and skipped. Ids are stored as 48-bit hashes (6 bytes each, however
long the wire id), oldest first, bounded by a window that must cover one commit interval
of one user's events. A new event is wrongly taken for a replay only if its hash equals
one of the window's: 32 / 2**48 ≈ 1e-13 per event at the default window of 32.

Layout: ``b"GR2"`` + uint16 count + count x uint48 (little endian) + ``streams.state.codec``
bytes. ``GR1`` (64-bit hashes) is still read: its keys are cut to 48 bits.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import blake2b

import numpy as np

from streams.state import codec
from streams.state.errors import StateError
from streams.state.user import UserState

MAGIC = b"GR2"
_V1 = b"GR1"
_KEY_BYTES = 6
_KEY_MASK = (1 << 8 * _KEY_BYTES) - 1
_HEAD = struct.Struct("<3sH")


def event_key(event_id: str) -> int:
    """Stable 48-bit hash of a wire event id (Python's ``hash`` is salted per process): the
    low 48 bits of the 64-bit one ``GR1`` stored, so old windows still match new events."""
    return int.from_bytes(blake2b(event_id.encode(), digest_size=8).digest()[:_KEY_BYTES], "little")


@dataclass(frozen=True, eq=False)
class UserRecord:
    state: UserState
    event_keys: tuple[int, ...] = ()  # oldest first

    def remember(self, keys: Iterable[int], window: int) -> tuple[int, ...]:
        """The applied-id window after ``keys`` were applied (oldest dropped first)."""
        merged = self.event_keys + tuple(keys)
        return merged[-window:] if window > 0 else ()


def new_record(user_id: str) -> UserRecord:
    return UserRecord(UserState(user_id=user_id))


def encode(rec: UserRecord) -> bytes:
    n = len(rec.event_keys)
    if n > 0xFFFF:
        raise StateError(f"event id window too large: {n} > 65535")
    ids = np.fromiter(rec.event_keys, dtype="<u8", count=n).view(np.uint8).reshape(n, 8)[:, :_KEY_BYTES].tobytes()
    return b"".join((_HEAD.pack(MAGIC, n), ids, codec.to_bytes(rec.state)))


def decode(buf: bytes) -> UserRecord:
    """Table bytes → record; raises StateError when the bytes are not a record."""
    if len(buf) < _HEAD.size or buf[:3] not in (MAGIC, _V1):
        raise StateError(f"not a user record (expected magic {MAGIC!r}, got {bytes(buf[:3])!r})")
    _, n = _HEAD.unpack_from(buf)
    width = 8 if buf[:3] == _V1 else _KEY_BYTES
    end = _HEAD.size + width * n
    if len(buf) < end:
        raise StateError("user record is truncated")
    wide = np.zeros((n, 8), np.uint8)
    wide[:, :_KEY_BYTES] = np.frombuffer(buf, np.uint8, width * n, _HEAD.size).reshape(n, width)[:, :_KEY_BYTES]
    keys = tuple(wide.view("<u8").ravel().tolist())
    return UserRecord(codec.from_bytes(bytes(buf[end:])), keys)
