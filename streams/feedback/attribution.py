"""Which recommendation list (and which sources in it) an interaction answers.

Pure bookkeeping, no Kafka: the feedback agent feeds it the lists it sees on
``recommendations`` and the events it sees on ``interactions``. An event answers a list
when it names the list's ``rec_id`` or, failing that, when its item is in the user's
latest list. Credit for a positive answer is split over the sources in proportion to
their contribution to that item's fused score (the list's own explanation).
"""
from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.schemas import Interaction


@dataclass(frozen=True)
class ShownList:
    rec_id: str
    user_id: str
    config_version: int
    variant: str
    items: dict[str, dict[str, float]]  # item_id -> per-source contributions

    @classmethod
    def from_wire(cls, rec: Mapping[str, Any]) -> "ShownList":
        return cls(str(rec["rec_id"]), str(rec["user_id"]), int(rec.get("config_version", 0)),
                   str(rec.get("variant") or rec.get("scenario") or "default"),
                   {str(it["item_id"]): dict(it.get("sources") or {}) for it in rec.get("items", [])})


@dataclass(frozen=True)
class Attribution:
    rec_id: str
    user_id: str
    item_id: str
    config_version: int
    variant: str
    reward: float
    credit: dict[str, float]  # source -> share of the reward (sums to reward)
    #: source -> its contribution to the answered item minus its mean contribution over
    #: the list: how much the source told this item apart from what else was shown.
    advantage: dict[str, float] = field(default_factory=dict)


def split_credit(contributions: Mapping[str, float], reward: float) -> dict[str, float]:
    """Share ``reward`` over sources by their positive contributions (equal if none)."""
    pos = {s: max(float(c), 0.0) for s, c in contributions.items()}
    total = sum(pos.values())
    if total <= 0:
        return {s: reward / len(pos) for s in pos} if pos else {}
    return {s: reward * c / total for s, c in pos.items()}


def advantage(rec: ShownList, item_id: str) -> dict[str, float]:
    """Per source: contribution to ``item_id`` minus the mean contribution over the list."""
    sources = {s for contrib in rec.items.values() for s in contrib}
    n = len(rec.items)
    return {s: rec.items[item_id].get(s, 0.0) - sum(c.get(s, 0.0) for c in rec.items.values()) / n
            for s in sources}


@dataclass
class Counters:
    """Impressions, answers and reward of one key (a source, a config version, a variant)."""

    shown: float = 0.0
    answered: int = 0
    reward: float = 0.0

    @property
    def ctr(self) -> float:
        return self.answered / self.shown if self.shown else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"shown": self.shown, "answered": self.answered, "reward": round(self.reward, 6),
                "ctr": round(self.ctr, 6)}


@dataclass
class Attributor:
    """Remembers recent lists and attributes events to them; keeps CTR counters."""

    max_lists: int = 200_000
    lists: OrderedDict[str, ShownList] = field(default_factory=OrderedDict)
    latest: dict[str, str] = field(default_factory=dict)  # user -> rec_id of the newest list
    by_source: defaultdict[str, Counters] = field(default_factory=lambda: defaultdict(Counters))
    by_version: defaultdict[int, Counters] = field(default_factory=lambda: defaultdict(Counters))
    by_variant: defaultdict[str, Counters] = field(default_factory=lambda: defaultdict(Counters))

    def shown(self, rec: ShownList) -> None:
        """Record a list that was emitted; impressions are shared over sources like credit."""
        self.lists[rec.rec_id] = rec
        self.latest[rec.user_id] = rec.rec_id
        while len(self.lists) > self.max_lists:
            self.lists.popitem(last=False)
        n = len(rec.items)
        self.by_version[rec.config_version].shown += n
        self.by_variant[rec.variant].shown += n
        for contrib in rec.items.values():
            for s, share in split_credit(contrib, 1.0).items():
                self.by_source[s].shown += share

    def answer(self, ev: Interaction, reward: float) -> Attribution | None:
        """Attribute one event; None when it answers no known list."""
        rec_id = ev.rec_id if ev.rec_id in self.lists else self.latest.get(ev.user_id)
        rec = self.lists.get(rec_id) if rec_id else None
        if rec is None or rec.user_id != ev.user_id or ev.item_id not in rec.items:
            return None
        credit = split_credit(rec.items[ev.item_id], reward)
        for counters in (self.by_version[rec.config_version], self.by_variant[rec.variant]):
            counters.answered += 1
            counters.reward += reward
        for s, c in credit.items():
            self.by_source[s].answered += 1 if c > 0 else 0
            self.by_source[s].reward += c
        return Attribution(rec.rec_id, ev.user_id, ev.item_id, rec.config_version, rec.variant, reward, credit,
                           advantage(rec, ev.item_id))

    def report(self) -> dict[str, Any]:
        return {"sources": {s: c.as_dict() for s, c in sorted(self.by_source.items())},
                "versions": {str(v): c.as_dict() for v, c in sorted(self.by_version.items())},
                "variants": {v: c.as_dict() for v, c in sorted(self.by_variant.items())}}
