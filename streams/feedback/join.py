"""Time-ordered merge of two topics (a stream-stream join with a watermark), pure.

The feedback loop must see a recommendation list before the interaction that answers
it, but one consumer reading two topics gets them in whatever order the fetches land.
Messages are released in timestamp order: a message waits until the other stream has
shown a timestamp at least as late, or until it has waited ``max_delay_s`` (so a quiet
stream cannot stall the other one).
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TimeMerge:
    streams: tuple[str, ...]
    max_delay_s: float = 1.0
    _heap: list[tuple[float, int, str, Any, float]] = field(default_factory=list)
    _latest: dict[str, float] = field(default_factory=dict)
    _seq: Iterator[int] = field(default_factory=itertools.count)

    def push(self, stream: str, ts: float, item: Any, now: float) -> None:
        heapq.heappush(self._heap, (ts, next(self._seq), stream, item, now))
        self._latest[stream] = max(self._latest.get(stream, ts), ts)

    def pop_ready(self, now: float) -> Iterator[tuple[str, Any]]:
        """Release every message that can no longer be overtaken (or waited too long)."""
        while self._heap:
            ts, _, stream, item, arrived = self._heap[0]
            others = [self._latest.get(s, float("-inf")) for s in self.streams if s != stream]
            if all(o >= ts for o in others) or now - arrived >= self.max_delay_s:
                heapq.heappop(self._heap)
                yield stream, item
            else:
                return

    def __len__(self) -> int:
        return len(self._heap)
