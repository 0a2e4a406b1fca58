"""An online learner over fusion weights: exponentiated gradient on a pairwise signal.

For every answered list, each source's *advantage* is its normalised score on the item
the user took minus its mean normalised score over the list (the contribution divided
by the source's weight; attribution.py). A source that scores taken items above the
rest of the list separates good from bad and gains weight:
``w_s ← w_s · exp(η · A_s / max|A|)`` with ``A_s`` the mean advantage over the window;
each step is capped at ``max_step``, every weight is kept above ``floor`` (so no source
stops being explored) and the weights are renormalised to sum to one. This is the
gradient of a pairwise ranking objective with respect to the fusion weights.

Why not per-source CTR: a source's share of hits mostly measures how often it agrees
with the others (popularity "earns" hits on items every source likes), and a first
version that followed CTR moved weight to popularity and lowered HR@10 on the replay
(docs/benchmarks.md). Why not Thompson sampling over whole weight vectors: every list
already says how much each source contributed, which is far more sample-efficient
than treating each weight vector as an arm.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.feedback.attribution import Attribution, Counters, ShownList, split_credit


@dataclass(frozen=True)
class BanditParams:
    learning_rate: float = 1.0
    floor: float = 0.02
    max_step: float = 0.1
    min_answers: int = 200  # answered events in a window before weights may move
    min_shown: float = 2000.0


@dataclass
class Proposal:
    weights: dict[str, float]
    evidence: dict[str, Any]


def normalise(weights: Mapping[str, float], floor: float) -> dict[str, float]:
    """Sum to one with every weight ≥ floor (floor·n must be < 1)."""
    total = sum(max(w, 0.0) for w in weights.values()) or 1.0
    w = {s: max(v, 0.0) / total for s, v in weights.items()}
    for _ in range(len(w)):  # raising one weight to the floor lowers the others: iterate
        low = {s for s, v in w.items() if v < floor}
        if not low:
            break
        rest = sum(v for s, v in w.items() if s not in low)
        budget = 1.0 - floor * len(low)
        w = {s: floor if s in low else v * budget / rest for s, v in w.items()}
    return w


def step(weights: Mapping[str, float], advantage: Mapping[str, float], p: BanditParams) -> dict[str, float]:
    """One exponentiated-gradient step (pure); sources without evidence keep their weight."""
    known = {s: a for s, a in advantage.items() if s in weights}
    scale = max((abs(a) for a in known.values()), default=0.0)
    if scale <= 0:
        return dict(weights)
    new = {}
    for s, w in weights.items():
        target = w * math.exp(p.learning_rate * known[s] / scale) if s in known else w
        new[s] = min(max(target, w - p.max_step), w + p.max_step)
    return normalise(new, p.floor)


@dataclass
class WeightBandit:
    weights: dict[str, float]
    params: BanditParams = field(default_factory=BanditParams)
    window: dict[str, Counters] = field(default_factory=dict)
    advantage: dict[str, float] = field(default_factory=dict)
    answers: int = 0
    updates: int = 0

    def __post_init__(self) -> None:
        self.weights = normalise(self.weights, self.params.floor)

    def observe_list(self, rec: ShownList) -> None:
        for contrib in rec.items.values():
            for s, share in split_credit(contrib, 1.0).items():
                self.window.setdefault(s, Counters()).shown += share

    def observe_answer(self, att: Attribution) -> None:
        """Accumulate the answer's reward and its per-source normalised advantage."""
        self.answers += 1
        for s, c in att.credit.items():
            self.window.setdefault(s, Counters()).reward += c
        for s, a in att.advantage.items():
            # contributions are weight × normalised score: divide the weight back out
            self.advantage[s] = self.advantage.get(s, 0.0) + a / max(self.weights.get(s, 0.0), self.params.floor)

    def propose(self) -> Proposal | None:
        """New weights when the window holds enough evidence; the window then restarts."""
        shown = sum(c.shown for c in self.window.values())
        if self.answers < self.params.min_answers or shown < self.params.min_shown:
            return None
        rates = {s: c.reward / c.shown for s, c in self.window.items() if c.shown > 0}
        mean_adv = {s: a / self.answers for s, a in self.advantage.items()}
        new = step(self.weights, mean_adv, self.params)
        evidence = {"answers": self.answers, "shown": round(shown, 1),
                    "advantage": {s: round(a, 6) for s, a in mean_adv.items()},
                    "rates": {s: round(r, 6) for s, r in rates.items()},
                    "previous": {s: round(w, 6) for s, w in self.weights.items()}, "update": self.updates + 1}
        self.weights, self.window, self.advantage, self.answers = new, {}, {}, 0
        self.updates += 1
        return Proposal({s: round(w, 6) for s, w in new.items()}, evidence)
