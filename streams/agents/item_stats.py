"""Global item statistics (popularity, co-occurrence, transitions) on every worker.

Item statistics are global, but each streams worker owns only 1/N of the users. Rather
than rank with a 1/N sample (noisy for the long tail, and the sample changes on every
rebalance) or invent a merge protocol, every worker follows the *whole* ``interactions``
topic with a group-less consumer and feeds :class:`streams.state.items.ItemStats` (whose
per-user pair memory also needs each user's complete stream). The price is that each
worker reads the topic N times over in total; the update is cheap next to user state.
Duplicates are dropped with a bounded window of recent event ids (replays of a producer).
"""
from __future__ import annotations

import logging
from collections import OrderedDict

from streams.agents.record import event_key
from streams.errors import InvalidMessage
from streams.schemas import parse_interaction
from streams.settings import Settings
from streams.state.errors import StateError
from streams.state.items import ItemStats

log = logging.getLogger(__name__)


class ItemStatsFeed:
    """``on_record`` callback for a TopicFollower on ``interactions``."""

    def __init__(self, settings: Settings, stats: ItemStats, dedup_window: int = 100_000) -> None:
        self.stats = stats
        self._types = settings.all_event_types
        self._max_bytes = settings.max_message_bytes
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._window = dedup_window
        self.applied = self.skipped = 0

    def on_record(self, key: bytes | None, value: bytes | None, partition: int, offset: int,
                  ts: float = 0.0) -> None:
        try:
            ev = parse_interaction(value, self._types, self._max_bytes, default_ts=ts)
        except InvalidMessage:
            self.skipped += 1  # the user-state agent dead-letters it; counting here is enough
            return
        k = event_key(ev.event_id)
        if k in self._seen:
            self.skipped += 1
            return
        self._seen[k] = None
        if len(self._seen) > self._window:
            self._seen.popitem(last=False)
        try:
            self.stats.update(ev)
        except StateError:
            self.skipped += 1
            return
        self.applied += 1
