"""An online learner over fusion weights: multiplicative weights on per-source CTR.

Each source's evidence in a window is the reward credited to it divided by the
impressions credited to it (both split by contribution, see attribution.py), i.e. how
often the items a source pushed into lists were taken. Weights move towards sources
whose items are taken more than the weighted average:
``w_s ← w_s · exp(η · (r_s / r̄ − 1))``, then each step is capped at ``max_step``, every
weight is kept above ``floor`` (so no source stops being explored) and the weights are
renormalised to sum to one. Why this and not Thompson sampling over whole weight
vectors: the fusion has four continuous weights and every list already tells us how
much each source contributed, so per-source credit is far more sample-efficient than
treating each weight vector as an arm.
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


def step(weights: Mapping[str, float], rates: Mapping[str, float], p: BanditParams) -> dict[str, float]:
    """One multiplicative-weights step (pure); sources without a rate keep their weight."""
    known = {s: r for s, r in rates.items() if s in weights}
    mean = sum(weights[s] * r for s, r in known.items()) / max(sum(weights[s] for s in known), 1e-12)
    if mean <= 0:
        return dict(weights)
    new = {}
    for s, w in weights.items():
        target = w * math.exp(p.learning_rate * (known[s] / mean - 1.0)) if s in known else w
        new[s] = min(max(target, w - p.max_step), w + p.max_step)
    return normalise(new, p.floor)


@dataclass
class WeightBandit:
    weights: dict[str, float]
    params: BanditParams = field(default_factory=BanditParams)
    window: dict[str, Counters] = field(default_factory=dict)
    answers: int = 0
    updates: int = 0

    def __post_init__(self) -> None:
        self.weights = normalise(self.weights, self.params.floor)

    def observe_list(self, rec: ShownList) -> None:
        for contrib in rec.items.values():
            for s, share in split_credit(contrib, 1.0).items():
                self.window.setdefault(s, Counters()).shown += share

    def observe_answer(self, att: Attribution) -> None:
        self.answers += 1
        for s, c in att.credit.items():
            self.window.setdefault(s, Counters()).reward += c

    def propose(self) -> Proposal | None:
        """New weights when the window holds enough evidence; the window then restarts."""
        shown = sum(c.shown for c in self.window.values())
        if self.answers < self.params.min_answers or shown < self.params.min_shown:
            return None
        rates = {s: c.reward / c.shown for s, c in self.window.items() if c.shown > 0}
        new = step(self.weights, rates, self.params)
        evidence = {"answers": self.answers, "shown": round(shown, 1),
                    "rates": {s: round(r, 6) for s, r in rates.items()},
                    "previous": {s: round(w, 6) for s, w in self.weights.items()}, "update": self.updates + 1}
        self.weights, self.window, self.answers = new, {}, 0
        self.updates += 1
        return Proposal({s: round(w, 6) for s, w in new.items()}, evidence)
