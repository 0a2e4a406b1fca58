"""One batch of raw ``interactions`` messages → new user records, dead letters, counts.

Pure (no Faust, no I/O): the agent hands in the messages and a way to read the table, and
writes back what comes out. Per user, events are applied in partition order; duplicates
(same ``event_id`` already in the user's record, or twice in the batch) are skipped, which
also makes replays after a crash or rebalance idempotent (see :mod:`.record`).
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from streams.agents import record
from streams.errors import InvalidMessage
from streams.schemas import Interaction, parse_interaction
from streams.settings import EventTypeSpec
from streams.state.errors import StateError
from streams.state.foldin import CFModel as CFFactors
from streams.state.user import UserParams, apply_events, fold_pending

log = logging.getLogger(__name__)

VectorLookup = Callable[[str], "np.ndarray | None"]


class Message(Protocol):
    """What the rules read of a Kafka message: Faust's ``ConsumerMessage`` is one (the agent
    hands those in as they are), and so is :class:`Incoming`."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> float: ...


class Incoming(NamedTuple):
    """A plain :class:`Message` (tests and tools build these; the agent passes Faust's own)."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp: float  # epoch seconds; the event's ts when the payload has none


@dataclass(frozen=True, slots=True)
class Rejected:
    msg: Message
    reason: str


@dataclass
class BatchResult:
    #: user id → index in the batch of that user's last message, for every changed user
    changed: dict[str, int] = field(default_factory=dict)
    #: user id → (record bytes, that index); filled by ``apply`` (``apply_pending`` defers it)
    writes: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    applied: list[Interaction] = field(default_factory=list)
    duplicates: int = 0
    corrupt: int = 0


class RecordCache:
    """Decoded user records, each kept with the exact bytes it was stored as.

    Decoding a ~2-4 KB record for every user in every batch dominated the rules' cost. A
    cached record is used only while the table still holds *those very bytes*, so the
    cache can never serve a state the table does not have (a rebalance, a recovery from
    the changelog, a standby catching up all change the stored bytes): a miss just decodes
    as before. Bounded: least recently used users are dropped first. The cached record is
    the full-precision one (float32 vectors), which the stored bytes round.
    """

    def __init__(self, max_users: int) -> None:
        self.max_users = max_users
        self._recs: OrderedDict[str, tuple[bytes, record.UserRecord]] = OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._recs)

    def get(self, user_id: str, raw: bytes | None) -> record.UserRecord | None:
        hit = self._recs.get(user_id)
        if hit is None or raw is None or (hit[0] is not raw and hit[0] != raw):
            self.misses += 1
            return None
        self.hits += 1
        self._recs.move_to_end(user_id)
        return hit[1]

    def put(self, user_id: str, raw: bytes, rec: record.UserRecord) -> None:
        if self.max_users <= 0:
            return
        self._recs[user_id] = (raw, rec)
        self._recs.move_to_end(user_id)
        while len(self._recs) > self.max_users:
            self._recs.popitem(last=False)


class UserStateUpdater:
    """Validates, de-duplicates and applies a batch with the rules of :mod:`streams.state`."""

    def __init__(self, event_types: Mapping[str, EventTypeSpec], max_bytes: int, params: UserParams,
                 vectors: VectorLookup, cf: Callable[[], CFFactors | None], dedup_window: int,
                 cache_users: int = 0) -> None:
        self.event_types, self.max_bytes, self.params = event_types, max_bytes, params
        self.vectors, self.cf, self.window = vectors, cf, dedup_window
        self.cache = RecordCache(cache_users)
        #: applied but not yet encoded/stored (write-behind, see ``streams.agents.user_state``)
        self.pending: dict[str, record.UserRecord] = {}

    def parse(self, msg: Message) -> Interaction:
        """Raw message → Interaction, or InvalidMessage with the reason."""
        ev = parse_interaction(msg.value, self.event_types, self.max_bytes, default_ts=msg.timestamp)
        key = msg.key.decode("utf-8", "replace") if msg.key is not None else None
        if key != ev.user_id:
            # The key decides the partition, the partition decides which worker owns the
            # user: a mismatch would let two workers write the same user.
            raise InvalidMessage(f"message key {key!r:.60} must equal user_id {ev.user_id!r:.60}")
        try:
            self.params.weights.signal(ev.type, ev.value)
        except StateError as exc:
            raise InvalidMessage(str(exc)) from None
        return ev

    def group(self, batch: Sequence[Message], result: BatchResult) -> dict[str, list[tuple[int, Interaction]]]:
        """Valid events per user, in batch (= partition) order; the rest to ``result.rejected``."""
        users: dict[str, list[tuple[int, Interaction]]] = {}
        for i, msg in enumerate(batch):
            try:
                ev = self.parse(msg)
            except InvalidMessage as exc:
                result.rejected.append(Rejected(msg, exc.reason))
                continue
            users.setdefault(ev.user_id, []).append((i, ev))
        return users

    def load(self, user_id: str, raw: bytes | None, result: BatchResult) -> record.UserRecord:
        pending = self.pending.get(user_id)
        if pending is not None:
            return pending
        if raw is None:
            return record.new_record(user_id)
        cached = self.cache.get(user_id, raw)
        if cached is not None:
            return cached
        try:
            return record.decode(raw)
        except StateError:
            # Unreadable bytes can only come from a bug or a foreign writer; crashing would
            # crash-loop the worker, so the user restarts from empty and it is counted.
            log.exception("user %r: stored record unreadable; starting a new state", user_id)
            result.corrupt += 1
            return record.new_record(user_id)

    def current(self, user_id: str, raw: bytes | None) -> record.UserRecord | None:
        """The newest record held in memory (applied, maybe not yet flushed), else None."""
        pending = self.pending.get(user_id)
        return pending if pending is not None else self.cache.get(user_id, raw)

    def apply_user(self, rec: record.UserRecord, events: list[tuple[int, Interaction]],
                   result: BatchResult) -> record.UserRecord | None:
        """Apply one user's new events; None when all were duplicates."""
        known = set(rec.event_keys)
        fresh: list[Interaction] = []
        keys: list[int] = []
        for _, ev in events:
            k = record.event_key(ev.event_id)
            if k in known:
                result.duplicates += 1
                continue
            known.add(k)
            keys.append(k)
            fresh.append(ev)
        if not fresh:
            return None
        lookup = self.vectors
        state = fold_pending(rec.state, lookup, self.params)
        state = apply_events(state, fresh, [lookup(ev.item_id) for ev in fresh], self.params, self.cf())
        result.applied.extend(fresh)
        return record.UserRecord(state, rec.remember(keys, self.window))

    def apply_pending(self, batch: Sequence[Message], read: Callable[[str], bytes | None]) -> BatchResult:
        """Apply the batch in memory; changed users stay in :attr:`pending` until :meth:`flush`.

        ``read(user_id)`` returns the stored record bytes or None. ``result.changed`` maps
        each changed user to the index of its last message in ``batch``.
        """
        result = BatchResult()
        for user_id, events in self.group(batch, result).items():
            new = self.apply_user(self.load(user_id, read(user_id), result), events, result)
            if new is not None:
                self.pending[user_id] = new
                result.changed[user_id] = events[-1][0]
        return result

    def flush(self) -> dict[str, bytes]:
        """Encode every pending record once (however many batches changed it since)."""
        out: dict[str, bytes] = {}
        for part in self.flush_parts(len(self.pending)):
            out.update(part)
        return out

    def flush_parts(self, n: int) -> Iterator[dict[str, bytes]]:
        """:meth:`flush` ``n`` users at a time (a record costs ~100 µs to encode, so a caller
        on an event loop can let other work run between parts). A user leaves
        :attr:`pending` only with its encoded bytes in the cache, so :meth:`current` finds
        every user in one or the other at any point between parts."""
        users, step = list(self.pending), max(n, 1)
        for at in range(0, len(users), step):
            out: dict[str, bytes] = {}
            for user_id in users[at:at + step]:
                rec = self.pending.pop(user_id)
                raw = record.encode(rec)
                self.cache.put(user_id, raw, rec)
                out[user_id] = raw
            yield out

    def apply(self, batch: Sequence[Message], read: Callable[[str], bytes | None]) -> BatchResult:
        """The whole batch, encoded: ``result.writes`` holds each changed user's new bytes."""
        result = self.apply_pending(batch, read)
        raws = self.flush()
        result.writes = {u: (raws[u], idx) for u, idx in result.changed.items()}
        return result
