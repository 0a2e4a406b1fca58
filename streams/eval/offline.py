"""``run_offline(config) -> Report``: the product and the baselines on one temporal replay.

The product is driven through its own state, recommender and fusion code (see
:mod:`streams.eval.product`), without Kafka; the baselines are replayed in the same
pass so every figure in the table comes from identical events and candidates.
Fusion weights are chosen on the validation replay only, then measured once on test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from streams.data.events import item_events
from streams.data.movielens import MovieLens, load_movielens
from streams.eval.baselines import ALSFoldIn, ItemKNN, Popularity
from streams.eval.protocol import Events, Scorer, Split, events_from_ratings, holdout_split, replay, validation_split
from streams.eval.report import Report, write_report

log = logging.getLogger(__name__)

BASELINES: dict[str, Callable[[int, int], Scorer]] = {
    "popularity": Popularity, "itemknn": ItemKNN, "als-foldin": ALSFoldIn,
}


@dataclass(frozen=True)
class OfflineConfig:
    """One offline run. ``weights=None`` with ``product`` tunes them on the validation replay first."""

    split: Literal["test", "validation"] = "test"
    product: bool = True
    baselines: tuple[str, ...] = tuple(BASELINES)
    weights: dict[str, float] | None = None
    out_dir: Path | None = Path("reports")
    media: bool = True
    window: int = 2000
    limit: int | None = None  # replay only the first N events (smoke runs)
    progress: bool = False
    extra: dict[str, float] = field(default_factory=dict)  # product parameter overrides


def split_for(name: str, n: int) -> Split:
    return holdout_split(n) if name == "test" else validation_split(n)


def load(config: OfflineConfig) -> tuple[MovieLens, Events]:
    """The dataset and its replay events, optionally cut to the first ``limit`` events."""
    data = load_movielens(with_media=config.media)
    events = events_from_ratings(data.ratings, sorted(data.items))
    if config.limit is not None:
        n = min(config.limit, len(events))
        events = Events(events.users[:n], events.items[:n], events.values[:n], events.ts[:n],
                        events.user_ids, events.item_ids)
    return data, events


def _progress(total: int, label: str, enabled: bool) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit="ev", mininterval=2.0)
    return (lambda i: bar.update(1)), bar.close


def run_offline(config: OfflineConfig = OfflineConfig()) -> Report:
    """Replay, score, and (when ``out_dir`` is set) write the report files.

    BLAS is held to one thread: the per-request products are tiny, and threads only
    fight over the cores.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _run(config)


def _run(config: OfflineConfig) -> Report:
    start = time.time()
    data, events = load(config)
    split = split_for(config.split, len(events))
    scorers: dict[str, Scorer] = {}
    weights: dict[str, float] = {}
    tuning: list[tuple[dict[str, float], float]] = []
    if config.product:
        from streams.eval.product import ProductReplay, default_weights
        from streams.eval.tuning import tune_weights

        items = list(item_events(data))
        if config.weights is None and config.split == "test":
            weights, tuning = tune_weights(events, items, validation_split(len(events)), config)
        else:
            weights = dict(config.weights or default_weights())
        scorers["product"] = ProductReplay(events, items, weights, config.extra)
    for name in config.baselines:
        scorers[name] = BASELINES[name](events.n_users, events.n_items)
    tick, close = _progress(split.end, f"{config.split} replay", config.progress)
    totals = replay(events, scorers, split, progress=tick)
    close()
    report = Report(
        split=config.split, scored=next(iter(totals.values())).scored if totals else 0,
        rows={name: t.summary() for name, t in totals.items()},
        traces={name: t.hit_trace for name, t in totals.items()},
        source_share=totals["product"].source_share() if "product" in totals else {},
        weights=weights, tuning=tuning, seconds=time.time() - start,
    )
    if config.out_dir is not None:
        write_report(report, config.out_dir, config.window)
    return report
