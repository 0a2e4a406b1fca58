"""`genre replay ml-100k`: publish MovieLens-100K items, then every rating in time order.

Ratings are keyed by user id, so one user's events stay in order on one partition.
``speed`` is "max" (as fast as the broker takes them), a multiple of real time
(``1000`` = a thousand times faster than the original timestamps), and ``rate`` caps
events per second (useful for steady-load runs).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm import tqdm

from streams.kafka_io import make_producer
from streams.settings import Settings
from streams.wire import dumps

log = logging.getLogger(__name__)


def parse_speed(text: str) -> float | None:
    """'max' → None; '100' or '100x' → 100.0."""
    t = text.strip().lower().rstrip("x×")
    if text.strip().lower() == "max":
        return None
    value = float(t)
    if value <= 0:
        raise ValueError(f"speed must be 'max' or a positive multiple, got {text!r}")
    return value


def paced(events: Iterable[dict[str, Any]], speed: float | None, rate: float | None) -> Iterator[dict[str, Any]]:
    """Yield events at ``speed``× their own timestamps and at most ``rate`` per second."""
    start = time.monotonic()
    first_ts: float | None = None
    for n, ev in enumerate(events):
        due = 0.0
        if speed is not None:
            first_ts = ev["ts"] if first_ts is None else first_ts
            due = (ev["ts"] - first_ts) / speed
        if rate:
            due = max(due, n / rate)
        wait = start + due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        yield ev


def publish(settings: Settings, topic: str, events: Iterable[dict[str, Any]], key_field: str,
            total: int | None = None, desc: str = "", progress: bool = True) -> int:
    """Produce JSON events keyed by ``key_field``; returns how many were acknowledged."""
    producer = make_producer(settings, **{"linger.ms": 5, "batch.num.messages": 10_000})
    failed: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    n = 0
    name = settings.topic(topic)
    for ev in tqdm(events, total=total, desc=desc or topic, disable=not progress, unit="ev", mininterval=1):
        while True:
            try:
                producer.produce(name, value=dumps(ev), key=str(ev[key_field]).encode(), on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let librdkafka drain it
                producer.poll(0.05)
        n += 1
        if n % 1000 == 0:
            producer.poll(0)
    left = producer.flush(60)
    if left or failed:
        raise RuntimeError(f"{left} {topic} events undelivered, {len(failed)} failed: {failed[:3]}")
    return n


def replay_movielens(settings: Settings, speed: float | None = None, rate: float | None = None,
                     limit: int | None = None, items: bool = True, ratings: bool = True,
                     media_dir: str | None = None, progress: bool = True) -> dict[str, int]:
    """Publish the dataset through Kafka into the running stack."""
    from streams.data.events import item_events, rating_events
    from streams.data.movielens import load_movielens
    data = load_movielens(media_dir)
    out = {"items": 0, "interactions": 0}
    if items:
        out["items"] = publish(settings, "items", item_events(data), "item_id", len(data.items), "items", progress)
    if ratings:
        evs: Iterable[dict[str, Any]] = rating_events(data.ratings)
        total = len(data.ratings) if limit is None else min(limit, len(data.ratings))
        if limit is not None:
            evs = (e for i, e in zip(range(limit), evs))
        out["interactions"] = publish(settings, "interactions", paced(evs, speed, rate), "user_id",
                                      total, "ratings", progress)
    log.info("replayed %s", out)
    return out
