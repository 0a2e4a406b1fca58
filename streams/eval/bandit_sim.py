"""The feedback loop replayed offline: the bandit tunes fusion weights from the answers
to the product's own lists, exactly as the feedback worker does live.

Each scored event first gets the user's list (the product at the bandit's current
weights); the event itself is the answer (a hit when its item was in the list). The same
:class:`~streams.feedback.worker.FeedbackLoop` that runs in the stack attributes it and,
when the bandit moves, the product switches to the proposed weights. The result is the
weight trajectory and the final weights, which are then scored on the same replay beside
the starting weights.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streams.eval.offline import OfflineConfig, load, run_offline, split_for
from streams.eval.product import ProductReplay
from streams.eval.protocol import Events, Recommendation, replay
from streams.feedback.bandit import BanditParams, WeightBandit
from streams.feedback.worker import FeedbackLoop
from streams.ranking.config import FusionConfig
from streams.schemas import Interaction
from streams.state.weights import EventWeights

log = logging.getLogger(__name__)
SOURCES = ("session", "transitions", "cf", "content", "popular")


def equal_weights(sources: Sequence[str] = SOURCES) -> dict[str, float]:
    return {s: 1.0 / len(sources) for s in sources}


class BanditReplay(ProductReplay):
    """ProductReplay whose fusion weights follow the feedback loop's bandit."""

    def __init__(self, events: Events, items: Sequence[Mapping], weights: Mapping[str, float],
                 params: BanditParams) -> None:
        super().__init__(events, items, weights)
        self.loop = FeedbackLoop(EventWeights(), WeightBandit(dict(weights), params))
        self.trajectory: list[tuple[int, dict[str, float]]] = [(0, dict(self.loop.bandit.weights))]
        self.step = 0

    def recommend(self, user: int, candidates: np.ndarray, k: int) -> Recommendation:
        rec = super().recommend(user, candidates, k)
        self.loop.on_list({"rec_id": f"{user}-{self.step}", "user_id": self.user_ids[user], "scenario": "default",
                           "items": [{"item_id": self.ids[i], "sources": e}
                                     for i, e in zip(rec.items.tolist(), rec.explanations or [])]})
        return rec

    def observe(self, user: int, item: int, value: float, ts: float) -> None:
        self.step += 1
        ev = Interaction(f"e{self.step}", "rating", self.user_ids[user], self.ids[item], ts, value)
        proposal = self.loop.on_event(ev)
        if proposal:
            self.config = FusionConfig(**{**self.config.model_dump(), "weights": proposal["weights"]})
            self.trajectory.append((self.step, dict(proposal["weights"])))
        super().observe(user, item, value, ts)


@dataclass
class BanditResult:
    start: dict[str, float]
    final: dict[str, float]
    trajectory: list[tuple[int, dict[str, float]]]
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # label → summary


def simulate(split: str = "test", start: Mapping[str, float] | None = None,
             params: BanditParams = BanditParams(), limit: int | None = None) -> BanditResult:
    from threadpoolctl import threadpool_limits

    from streams.data.events import item_events
    cfg = OfflineConfig(split=split, limit=limit, baselines=())  # type: ignore[arg-type]
    data, events = load(cfg)
    weights = dict(start or equal_weights())
    with threadpool_limits(1):
        scorer = BanditReplay(events, list(item_events(data)), weights, params)
        replay(events, {"bandit": scorer}, split_for(split, len(events)))
    return BanditResult(weights, dict(scorer.loop.bandit.weights), scorer.trajectory)


def score_weights(result: BanditResult, split: str = "test", limit: int | None = None) -> BanditResult:
    """Offline HR/NDCG of the start and final weights on the same replay."""
    for label, w in (("start", result.start), ("final", result.final)):
        rep = run_offline(OfflineConfig(split=split, baselines=(), weights=w, out_dir=None, limit=limit))  # type: ignore[arg-type]
        result.scores[label] = rep.rows["product"]
    return result


def plot_weights(trajectory: Sequence[tuple[int, Mapping[str, float]]], path: Path,
                 xlabel: str = "replayed event", title: str = "Bandit weights over the replay") -> Path:
    """Step plot of fusion weights over time (one line per source)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s for s, _ in trajectory]
    sources = sorted({src for _, w in trajectory for src in w})
    fig, ax = plt.subplots(figsize=(8, 4))
    for source in sources:
        ax.step(steps, [w.get(source, 0.0) for _, w in trajectory], where="post", label=source)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fusion weight")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="genre eval --bandit")
    p.add_argument("--split", choices=("test", "validation"), default="test")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--min-answers", type=int, default=200)
    p.add_argument("--out", type=Path, default=Path("reports"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    res = simulate(args.split, params=BanditParams(min_answers=args.min_answers, min_shown=0), limit=args.limit)
    score_weights(res, args.split, args.limit)
    path = plot_weights(res.trajectory, args.out / f"bandit-weights-{args.split}.png",
                        title="Bandit weights over the replay (from equal weights)")
    fmt = lambda w: ", ".join(f"{k} {v:.3f}" for k, v in w.items())  # noqa: E731
    print(f"{len(res.trajectory) - 1} bandit updates over the {args.split} replay")
    print(f"start: {fmt(res.start)}\nfinal: {fmt(res.final)}")
    for label, row in res.scores.items():
        print(f"{label:6s} HR@10 {row['hr@10']:.4f}  NDCG@10 {row['ndcg@10']:.4f}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
