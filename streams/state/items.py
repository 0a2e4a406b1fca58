"""Global item statistics, updated online from the interaction stream.

Every worker keeps its own replica, fed by *all* interactions (not only its partitions), so
the per-user memory needed to form pairs lives here, bounded, rather than in user state.

- popularity: time-decayed per-item and global sums (count of events, or positive weight);
- co-occurrence: users who interacted with both items (any type, any rating), for ItemKNN
  cosine ``cooc_ij / sqrt(n_i n_j)``;
- transitions: undirected pairs of a new positive with the user's previous
  ``transition_window`` positives (a co-occurrence-in-session signal).
Memory: items × row_cap pair entries each for cooc and transitions, plus at most
``max_users`` × (cooc_window + transition_window) ints of per-user memory (LRU on users).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from streams.state.decay import DecayedCounts
from streams.state.idmap import IdMap
from streams.state.pairs import PairCounts
from streams.state.weights import EventWeights

DAY = 86_400.0


@dataclass(frozen=True)
class ItemStatsParams:
    weights: EventWeights = field(default_factory=EventWeights)
    popularity_half_life: float = 7 * DAY
    popularity_signal: Literal["count", "positive"] = "count"
    cooc_window: int = 1000
    transition_window: int = 3
    row_cap: int = 5000
    max_users: int = 1_000_000


@dataclass
class _UserMemory:
    items: list[int] = field(default_factory=list)  # oldest first, ≤ cooc_window
    itemset: set[int] = field(default_factory=set)
    positives: list[int] = field(default_factory=list)  # ≤ transition_window


class ItemStats:
    """Mutable replica (copying a global structure per event would cost O(catalogue))."""

    def __init__(self, params: ItemStatsParams | None = None, ids: IdMap | None = None) -> None:
        self.params = params or ItemStatsParams()
        self.ids = ids if ids is not None else IdMap()
        self.popularity = DecayedCounts(self.params.popularity_half_life)
        self.cooc = PairCounts(self.params.row_cap)
        self.transitions = PairCounts(self.params.row_cap)
        self.users_per_item = np.zeros(64, dtype=np.float64)
        self.removed = np.zeros(64, dtype=bool)
        self._users: OrderedDict[str, _UserMemory] = OrderedDict()
        self.last_ts = 0.0
        self.version = 0  # bumped by every change, so readers can cache derived arrays

    def _grow(self, idx: int) -> None:
        if idx >= self.users_per_item.size:
            size = max(idx + 1, 2 * self.users_per_item.size)
            self.users_per_item = np.concatenate(
                [self.users_per_item, np.zeros(size - self.users_per_item.size)])
            self.removed = np.concatenate([self.removed, np.zeros(size - self.removed.size, bool)])

    def _memory(self, user_id: str) -> _UserMemory:
        mem = self._users.get(user_id)
        if mem is None:
            mem = self._users[user_id] = _UserMemory()
            if len(self._users) > self.params.max_users:
                self._users.popitem(last=False)
        else:
            self._users.move_to_end(user_id)
        return mem

    def update(self, event: Any) -> None:
        """Fold one interaction in. Raises StateError for unknown types (like user state)."""
        p = self.params
        sig = p.weights.signal(event.type, event.value)
        j = self.ids.add(event.item_id)
        self._grow(j)
        t = float(event.ts)
        self.version += 1
        self.last_ts = max(self.last_ts, t)
        pop = 1.0 if p.popularity_signal == "count" else sig.positive
        if pop > 0:
            self.popularity.add(j, pop, t)
        mem = self._memory(event.user_id)
        hashes = self.ids.hashes
        if j not in mem.itemset:
            self.cooc.add(j, mem.items, 1.0, hashes)
            self.users_per_item[j] += 1.0
            mem.items.append(j)
            mem.itemset.add(j)
            if len(mem.items) > p.cooc_window:
                mem.itemset.discard(mem.items.pop(0))
        if sig.positive > 0 and j not in mem.positives and p.transition_window > 0:
            self.transitions.add(j, mem.positives, 1.0, hashes)
            mem.positives.append(j)
            del mem.positives[: -p.transition_window]

    def remove_item(self, item_id: str) -> None:
        """A deleted item is never recommended again (its counts stay for its neighbours)."""
        j = self.ids.add(item_id)
        self._grow(j)
        self.removed[j] = True
        self.version += 1

    def restore_item(self, item_id: str) -> None:
        j = self.ids.get(item_id)
        if j is not None:
            self.removed[j] = False
            self.version += 1

    # --- reads -------------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self.ids)

    def popularity_at(self, t: float) -> np.ndarray:
        """Decayed popularity of every item (dense, length n_items) at time t."""
        return self.popularity.at(t, self.n_items) if self.n_items else np.zeros(0)

    def global_popularity_at(self, t: float) -> float:
        return self.popularity.total_at(t)

    def user_counts(self) -> np.ndarray:
        return self.users_per_item[: self.n_items]

    def cosine(self, a: str, b: str) -> float:
        """ItemKNN similarity of two items (0 when either is unknown)."""
        i, j = self.ids.get(a), self.ids.get(b)
        if i is None or j is None:
            return 0.0
        d = float(np.sqrt(self.users_per_item[i] * self.users_per_item[j]))
        return self.cooc.get(i, j) / d if d > 0 else 0.0

    def transition(self, a: str, b: str) -> float:
        i, j = self.ids.get(a), self.ids.get(b)
        return 0.0 if i is None or j is None else self.transitions.get(i, j)
