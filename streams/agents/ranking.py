"""The ranking agent: a user's state changed → one fresh list on ``recommendations``.

The user-state agent's batches mark users dirty (user → newest trigger event id and
scenario); a background task drains the map in batches and ranks them with
:class:`streams.ranking.service.Ranker`. A burst of events for one user between two
drains leaves one entry, so it yields one list made from the newest state, never a
backlog of stale ones. Requests (``requests`` topic, web view) join the same batches.
Ranking runs on the event loop, in bounded batches, because the item statistics it
reads are written on the loop too; the FAISS calls inside are batched across users.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram

from streams.agents import record
from streams.agents.processing import BatchResult, Message
from streams.kafka_io import make_producer
from streams.ranking.indexes import CFIndex, ContentIndex
from streams.ranking.service import Job, Ranker
from streams.state.errors import StateError
from streams.state.user import UserState
from streams.wire import dumps

if TYPE_CHECKING:
    from streams.agents.control import WorkerConfig
    from streams.app import Runtime

log = logging.getLogger(__name__)

LISTS = Counter("genre_ranking_lists_total", "Recommendation lists emitted", ["trigger"])
COALESCED = Counter("genre_ranking_coalesced_total", "State changes folded into a pending list")
BATCH_SECONDS = Histogram("genre_ranking_batch_seconds", "Time to rank one batch of users",
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
#: The worker's view of freshness: Kafka timestamp of the event a list answers (its trigger,
#: the user's newest message when it turned dirty) → the list handed to the producer.
LIST_AGE = Histogram("genre_ranking_list_age_seconds",
                     "Trigger event's Kafka timestamp to its list being produced",
                     buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
#: A list costs several times more CPU in a batch of a few users than in one of hundreds
#: (docs/benchmarks.md, seventh pass): batches at MAX_BATCH mean the agent is behind.
BATCH_USERS = Histogram("genre_ranking_batch_users", "Lists one ranking batch makes",
                        buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
MAX_BATCH = 256


class DirtyUsers:
    """user id → (newest trigger event id, scenario, its Kafka timestamp or None);
    insertion order = first-dirty order."""

    def __init__(self) -> None:
        self._dirty: OrderedDict[str, tuple[str, str | None, float | None]] = OrderedDict()
        self._requests: list[Job] = []
        self.wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._dirty) + len(self._requests)

    def mark(self, result: BatchResult, stamps: Mapping[str, float | None] | None = None) -> None:
        """Users with applied events turn dirty; ``stamps``: user → Kafka timestamp (s) of
        the user's newest message in the batch, None without one (for :data:`LIST_AGE`)."""
        for ev in result.applied:
            if ev.user_id in self._dirty:
                COALESCED.inc()
            self._dirty[ev.user_id] = (ev.event_id, ev.scenario or self._scenario(ev.user_id),
                                       stamps.get(ev.user_id) if stamps else None)
        if result.applied:
            self.wake.set()

    def _scenario(self, user_id: str) -> str | None:
        old = self._dirty.get(user_id)
        return old[1] if old else None

    def request(self, job: Job) -> None:
        self._requests.append(job)
        self.wake.set()

    def take(self, n: int) -> tuple[list[Job], list[tuple[str, str, str | None, float | None]]]:
        """Up to ``n`` requests and dirty users (requests first: someone is waiting)."""
        reqs, self._requests = self._requests[:n], self._requests[n:]
        users = []
        while self._dirty and len(reqs) + len(users) < n:
            user_id, (event_id, scenario, stamp) = self._dirty.popitem(last=False)
            users.append((user_id, event_id, scenario, stamp))
        if not self:
            self.wake.clear()
        return reqs, users


class NotifyingUpdater:
    """Wraps the user-state updater so every applied batch marks its users dirty."""

    def __init__(self, inner: Any, dirty: DirtyUsers) -> None:
        self._inner, self._dirty = inner, dirty

    def apply_pending(self, batch: Sequence[Message], read: Any) -> BatchResult:
        result = self._inner.apply_pending(batch, read)
        # the ranker reads the applied record (``current``) at once
        self._dirty.mark(result, {u: batch[i].timestamp for u, i in result.changed.items()})
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RankingAgent:
    """Everything the ranking side of a worker holds."""

    def __init__(self, rt: Runtime, config: WorkerConfig) -> None:
        self.rt, self.config = rt, config
        self.content = ContentIndex(rt.items)
        self.cf = CFIndex()
        rt.vectors.listeners.append(self.content.on_vector)
        self.ranker = Ranker(rt.items, self.content, self.cf, rt.model.get, config.get)
        self.dirty = DirtyUsers()
        self.producer = make_producer(rt.settings, partitioner="murmur2_random", **{"linger.ms": 1})
        self.topic = rt.settings.topic("recommendations")
        self.emitted = 0

    def user_state(self, user_id: str) -> UserState | None:
        raw = self.rt.read_user(user_id)
        cached = self.rt.updater.current(user_id, raw)  # just applied: no decode (~100 µs)
        if cached is not None:
            return cached.state
        if raw is None:
            return None
        try:
            return record.decode(raw).state
        except StateError:
            log.exception("user %r: unreadable record; ranking as a new user", user_id)
            return None

    def rank_now(self, jobs: list[Job]) -> list[dict[str, Any]]:
        """Rank and publish (used by the drain loop and the web view)."""
        t0 = time.perf_counter()
        lists = self.ranker.rank(jobs)
        for rec in lists:
            self.producer.produce(self.topic, key=rec["user_id"].encode(), value=dumps(rec))
            LISTS.labels("request" if rec.get("request_id") else "state").inc()
        self.producer.poll(0)
        self.emitted += len(lists)
        BATCH_SECONDS.observe(time.perf_counter() - t0)
        observe_ages(jobs, time.time())
        return lists

    def next_jobs(self) -> list[Job]:
        reqs, users = self.dirty.take(MAX_BATCH)
        jobs = [Job(r.user_id, self.user_state(r.user_id), r.scenario, None, r.request_id, r.k)
                for r in reqs]
        jobs += [Job(u, self.user_state(u), sc, ev, trigger_ts=ts) for u, ev, sc, ts in users]
        return jobs

    async def drain(self) -> None:
        """Background task: rank whatever is dirty, in batches, as soon as it is."""
        await self.config.started.wait()
        await self.rt.wait_catalog(self.rt.tuning.catalog_ready_timeout_s)
        while True:
            await self.dirty.wake.wait()
            jobs = self.next_jobs()
            if jobs:
                try:
                    self.rank_now(jobs)
                except Exception:  # a bug in one batch must not stop all future lists
                    log.exception("ranking a batch of %d users failed", len(jobs))
            await asyncio.sleep(0)


def observe_ages(jobs: Sequence[Job], now: float) -> None:
    """The batch's size and, per list with a trigger timestamp, its age (clocks of two
    hosts may differ a little: a negative age counts as 0)."""
    BATCH_USERS.observe(len(jobs))
    for job in jobs:
        if job.trigger_ts is not None:
            LIST_AGE.observe(max(0.0, now - job.trigger_ts))


def register(app: Any, rt: Runtime, config: WorkerConfig) -> RankingAgent:
    """Wire the ranking agent into ``app``: updater hook, drain task, flush on stop."""
    agent = RankingAgent(rt, config)
    rt.updater = NotifyingUpdater(rt.updater, agent.dirty)
    app.task(agent.drain)
    return agent
