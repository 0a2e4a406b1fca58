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


def causal_order(events: Iterable[dict[str, Any]], answered: Any, wait: Any, timeout_s: float,
                 max_held: int, on_timeout: Any = lambda: None) -> Iterator[dict[str, Any]]:
    """Reorder events so a user's next event follows the answer to their previous one.

    ``answered(event_id)`` says whether the list for that event has arrived; ``wait()``
    blocks briefly for news. Pure scheduling: the caller sends what this yields.
    """
    from collections import deque

    stream = iter(events)
    held: dict[str, deque[dict[str, Any]]] = {}
    waiting: dict[str, tuple[str, float]] = {}  # user → (event id sent, when)
    n_held, exhausted = 0, False

    def free(user: str) -> bool:
        w = waiting.get(user)
        if w is None or answered(w[0]):
            return True
        if time.monotonic() - w[1] > timeout_s:
            on_timeout()
            return True
        return False

    def sent(ev: dict[str, Any]) -> dict[str, Any]:
        waiting[ev["user_id"]] = (ev["event_id"], time.monotonic())
        return ev

    while not exhausted or held:
        ready = [u for u in held if free(u)]
        for u in ready:
            ev = held[u].popleft()
            n_held -= 1
            if not held[u]:
                del held[u]
            yield sent(ev)
        while not exhausted and n_held < max_held:
            ev = next(stream, None)
            if ev is None:
                exhausted = True
            elif ev["user_id"] in held or not free(ev["user_id"]):
                held.setdefault(ev["user_id"], deque()).append(ev)
                n_held += 1
            else:
                yield sent(ev)
        if held and not ready:
            wait()


class CausalGate:
    """Sends each user's next event only after the list answering their previous one.

    Users in a replay act on what they were shown: from ``--causal-from`` on, a user's
    event waits until the stack has emitted the list triggered by that user's previous
    event. Other users' events keep flowing meanwhile, so the stream is reordered across
    users (never within one user's events) by at most ``max_held`` events. Without the
    gate, a burst of one user's events is applied in one batch and answered by one list:
    right for production, but not what the offline protocol scores.
    """

    def __init__(self, settings: Settings, timeout_s: float = 10.0, max_held: int = 5000) -> None:
        import threading
        import uuid

        from confluent_kafka import OFFSET_END, TopicPartition

        from streams.kafka_io import make_consumer
        self.timeout_s, self.max_held = timeout_s, max_held
        self.answered: set[str] = set()
        self.timeouts = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        topic = settings.topic("recommendations")
        self._consumer = make_consumer(settings, f"{settings.app_id}-replay-{uuid.uuid4().hex[:8]}")
        parts = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in parts])
        self._thread = threading.Thread(target=self._run, name="causal-gate", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from streams.wire import loads
        while not self._stop.is_set():
            msgs = self._consumer.consume(1000, timeout=0.05)
            triggers = [loads(m.value()).get("trigger_event_id") for m in msgs if not m.error() and m.value()]
            if triggers:
                with self._cond:
                    self.answered.update(t for t in triggers if t)
                    self._cond.notify_all()

    def schedule(self, events: Iterable[dict[str, Any]], flush: Any) -> Iterator[dict[str, Any]]:
        """Yield events in sending order (see the class docstring)."""
        def wait() -> None:
            flush()
            with self._cond:
                self._cond.wait(0.02)

        def timed_out() -> None:
            self.timeouts += 1

        return causal_order(events, self.answered.__contains__, wait, self.timeout_s, self.max_held, timed_out)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


def publish(settings: Settings, topic: str, events: Iterable[dict[str, Any]], key_field: str,
            total: int | None = None, desc: str = "", progress: bool = True,
            gate: CausalGate | None = None) -> int:
    """Produce JSON events keyed by ``key_field``; returns how many were acknowledged."""
    producer = make_producer(settings, **{"linger.ms": 5, "batch.num.messages": 10_000})
    failed: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    n = 0
    name = settings.topic(topic)
    if gate is not None:
        events = gate.schedule(events, lambda: producer.poll(0))
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
                     media_dir: str | None = None, progress: bool = True,
                     causal_from: int | None = None) -> dict[str, int]:
    """Publish the dataset through Kafka into the running stack.

    From rating number ``causal_from`` on, each user's next rating waits for the list that
    answers their previous one (see CausalGate); before it, ratings go as fast as allowed.
    """
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
        evs = list(evs)
        cut = len(evs) if causal_from is None else min(causal_from, len(evs))
        out["interactions"] = publish(settings, "interactions", paced(evs[:cut], speed, rate), "user_id",
                                      cut, "ratings (warm-up)" if cut < len(evs) else "ratings", progress)
        if cut < len(evs):
            gate = CausalGate(settings)
            try:
                out["interactions"] += publish(settings, "interactions", paced(evs[cut:], speed, rate), "user_id",
                                               len(evs) - cut, "ratings (causal)", progress, gate)
            finally:
                gate.close()
            out["causal_timeouts"] = gate.timeouts
    log.info("replayed %s", out)
    return out
