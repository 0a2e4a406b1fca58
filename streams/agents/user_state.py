"""The user-state agent: ``interactions`` → users table (changelog in Kafka). Moves data only.

Batches come off the agent's channel (:func:`take_batches`) and are applied in memory; each
changed user's record is encoded, stored and sent to the changelog once per flush
(write-behind), and a flush's events are acked only once its records are in Kafka. The
rules live in :mod:`.processing` / :mod:`streams.state`.
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import faust
from faust import streams as faust_streams
from faust.types import TP, EventT
from prometheus_client import Counter, Histogram

from streams.agents import drain
from streams.agents.changelog import send_batches
from streams.agents.processing import BatchResult

if TYPE_CHECKING:
    from streams.app import Runtime

log = logging.getLogger(__name__)

EVENTS = Counter("genre_userstate_events_total", "Interactions seen by the user-state agent",
                 ["outcome"])
BATCH_SECONDS = Histogram("genre_userstate_batch_seconds", "Time to apply one batch",
                          buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
#: Flushes whose changelog records may be on their way while the next batches are applied.
MAX_WRITES_IN_FLIGHT = 4
#: An idle agent wakes this often to flush what it applied (and to notice a rebalance).
FLUSH_TICK_S = 0.05
#: Users encoded per part of a flush before the agent lets other tasks run.
FLUSH_PART_USERS = 64
#: Events already queued when a batch starts that mean "behind", and the batch limits then.
BACKLOG_QUEUED, BACKLOG_WITHIN_S, BACKLOG_IDLE_S = 256, 0.25, 0.003


@contextmanager
def as_current_event(event: EventT) -> Iterator[None]:
    """Make ``event`` Faust's current event while writing the table.

    Inside ``take_events`` the current event is whichever came last, but a table write
    goes to the changelog partition (and RocksDB partition) of the *current* event, so it
    must be the user's own message, or the value would land in another user's partition.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


def store_users(rt: Runtime, raws: dict[str, bytes],
                last_event: dict[str, EventT]) -> dict[int, list[tuple[bytes, bytes]]]:
    """Put the new records in the table's store now; returns the changelog records to send,
    by partition (each user's partition is that of its newest event)."""
    table = rt.users
    by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
    for user_id, raw in raws.items():
        key, event = user_id.encode(), last_event[user_id]
        with as_current_event(event):  # RocksDB picks its partition DB from the current event
            table.data[key] = raw  # the store only; the changelog goes out batched below
        by_partition.setdefault(event.message.partition, []).append((key, raw))
    return by_partition


async def persist(app: Any, rt: Runtime, events: Sequence[EventT], results: Sequence[BatchResult],
                  by_partition: dict[int, list[tuple[bytes, bytes]]],
                  after: asyncio.Future[None] | None) -> None:
    """Changelog and dead letters in Kafka, *then* ack the events and commit them.

    Runs behind the agent, so the next batches are applied while these records travel;
    ``after`` (the previous flush's task) keeps changelog sends and persisted offsets in
    order. A crash before the commit replays the events, which the event-id window skips.
    """
    if after is not None:
        await after
    table = rt.users
    if by_partition:
        name = table.changelog_topic.get_topic_name()
        await send_batches(app.producer._ensure_producer(), name, by_partition,
                           lambda p, off: table.data.set_persisted_offset(TP(name, p), off))
    for result in results:
        record_outcome(rt, result)
    if any(r.rejected for r in results):  # a dead letter must be in Kafka before its event is committed
        left = await asyncio.get_running_loop().run_in_executor(None, rt.producer.flush, 30)
        if left:
            raise RuntimeError(f"{left} dead letters not delivered in 30 s; not acking the batch")
    ack_all(events)
    await commit_acked(app)


async def commit_acked(app: Any) -> None:
    """Commit the offsets just acked now, not at the next commit interval.

    After a crash the events between the committed offset and the changelog are replayed,
    and a record remembers only the last ``dedup_window`` event ids of its user: a user
    with more events than that in the gap would get the oldest applied twice. Committing
    right after the changelog write keeps the gap to one commit's round trip (it was a
    whole commit interval: at 18,000 events/s over 100 users, ~37 events a user in the
    0.2 s the SIGKILL test uses). Faust lets one commit run at a time: if one was already
    running it did not include these acks, so commit once more. A failure is left to the
    periodic commit.
    """
    consumer = app.consumer
    try:
        if not await consumer.commit():
            await consumer.commit()
    except Exception:  # noqa: BLE001 - the acks stand; Faust's periodic commit retries
        log.warning("commit after a flush failed; the periodic commit will retry", exc_info=True)


def record_outcome(rt: Runtime, result: BatchResult) -> None:
    """Dead letters and counters for one applied batch."""
    for rej in result.rejected:
        m = rej.msg
        rt.deadletters.send(m.value, m.topic, m.partition, m.offset, rej.reason, key=m.key)
    rt.deadletters_flush()
    EVENTS.labels("applied").inc(len(result.applied))
    EVENTS.labels("duplicate").inc(result.duplicates)
    EVENTS.labels("rejected").inc(len(result.rejected))
    rt.stats.applied += len(result.applied)
    rt.stats.duplicates += result.duplicates
    rt.stats.rejected += len(result.rejected)


class EventBatch(list):  # type: ignore[type-arg]
    """A batch of events and how many more were already queued behind it when it ended."""

    queued = 0


async def take_batches(app: Any, stream: Any, max_n: int, within_s: float, idle_s: float,
                       ready: Awaitable[None] | None = None,
                       tick_s: float | None = None) -> AsyncIterator[EventBatch]:
    """Adaptive batches of events straight off the agent's channel queue.

    Faust's ``take_events`` costs a processor call, a passive-stream step and an ``ack``
    coroutine per event, and always waits its full ``within``: small batches when events
    trickle in, small batches (so one record encode per user per ~200 events) under a
    backlog too. Here a batch starts with the first queued event and takes whatever is
    queued, until ``max_n`` events, ``within_s`` seconds, or ``idle_s`` with nothing new:
    a few ms of latency when events trickle in; when the queue already holds a backlog at the
    start, the batch may run for :data:`BACKLOG_WITHIN_S` (thousands of events per batch).

    Per event it does what Faust's stream iterator does: events fetched before a rebalance
    (flow control suspended, or another consumer generation) are acked and skipped, the
    rest are tracked as unacked (so a revoke waits for this batch), and the caller acks
    them with :func:`ack_all` once their changelog records are in Kafka. ``ready`` is
    awaited after the channel is registered (events queue up meanwhile). With ``tick_s``
    an empty batch is yielded after that long without any event (time to flush).
    """
    chan = aiter(stream.channel)  # registers the agent's channel with the conductor
    await chan.maybe_declare()  # as Faust's own stream iteration does
    if ready is not None:
        await ready
    queue, consumer, loop = chan.queue, app.consumer, asyncio.get_running_loop()
    acking = app.topics.acking_topics
    while True:
        batch = EventBatch()
        try:
            if tick_s is None or queue.qsize():
                first = await queue.get()
            else:
                first = await asyncio.wait_for(queue.get(), tick_s)
        except StopAsyncIteration:  # Faust throws it into the channel when the agent stops
            return
        except asyncio.TimeoutError:
            yield batch  # empty: nothing arrived for tick_s
            continue
        # A full queue means a backlog: then a long batch costs no latency (the events are
        # late already) and saves a record update per user per batch; else stay prompt.
        backlog = queue.qsize() >= BACKLOG_QUEUED
        deadline = loop.time() + (max(within_s, BACKLOG_WITHIN_S) if backlog else within_s)
        idle = max(idle_s, BACKLOG_IDLE_S) if backlog else idle_s
        event, idle_since = first, None
        while True:
            if event is not None:
                m = event.message
                if not app.flow_control.is_active() or m.generation_id != app.consumer_generation_id:
                    event.ack()  # stale: Faust seeks back to the committed offset
                else:
                    if m.topic in acking and not m.tracked:
                        m.tracked = True
                        consumer.track_message(m)
                    batch.append(event)
                    if len(batch) >= max_n:
                        break
            if queue.qsize():  # not empty(): that is also False when an error was thrown in
                event, idle_since = queue.get_nowait(), None
                continue
            event, now = None, loop.time()
            idle_since = idle_since or now
            if now >= deadline or now - idle_since >= idle:
                break
            await asyncio.sleep(0.0005)
        if batch:
            batch.queued = queue.qsize()
            yield batch


def _report_failure(task: asyncio.Future[None]) -> None:
    """Log a failed write at once (the agent re-raises it on its next batch, or at stop)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("persisting a user-state batch failed; its events stay unacked",
                  exc_info=task.exception())


def ack_all(events: Sequence[EventT]) -> None:
    for event in events:
        event.ack()


class RawTopic(faust.Topic):
    """A topic whose events carry the message's key and value bytes as they are.

    Same events as ``key_serializer="raw"``/``value_serializer="raw"`` give, without the
    serializer registry and schema calls per message (~10 % of the worker's time). A
    tombstone (value None) reaches the agent as None, which rejects it to the dead letters.
    """

    def _compile_decode(self) -> None:
        # app.create_event looks ``conf.Event`` up per message through Faust's settings
        # descriptor (~4 µs); the class cannot change while the app runs.
        app, event_class = self.app, self.app.conf.Event

        async def decode(message: Any, *, propagate: bool = False) -> EventT:
            # Event copies a header list into a dict; most events have none: pass None then.
            return event_class(app, message.key, message.value, message.headers or None, message)

        self.decode = decode  # type: ignore[method-assign]


def register(app: Any, rt: Runtime) -> Any:
    """Declare the agent on ``app``; returns it (tests and the ranking agent may use it)."""
    tuning = rt.tuning
    if tuning.batched_drain:
        drain.install()
    drain.set_fetch_max_wait(tuning.fetch_max_wait_ms)
    rt.updater.cache.max_users = tuning.state_cache_users
    topic = RawTopic(app, topics=[rt.settings.topic("interactions")], key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="update_user_state")
    async def update_user_state(stream: Any) -> None:
        loop = asyncio.get_running_loop()
        writes: deque[asyncio.Future[None]] = deque()
        events_in: list[EventT] = []  # applied, not yet flushed
        results: list[BatchResult] = []
        last_event: dict[str, EventT] = {}
        since = loop.time()

        async def flush(pause: bool = True) -> None:
            """Encode each changed user once, store it, and persist behind the agent.

            Encoding costs ~100 µs a record (~80 ms a second at 1,000 events/s), so with
            ``pause`` it stops every :data:`FLUSH_PART_USERS` users to let ranking and the
            fetch hand-off run (lists and events waited behind whole flushes before). Not
            under a backlog: there each pause could let a whole ranking batch run, and the
            agent would apply nothing until the flush ended.
            """
            nonlocal events_in, results, last_event, since
            events, done, last = events_in, results, last_event
            events_in, results, last_event, since = [], [], {}, loop.time()
            by_partition: dict[int, list[tuple[bytes, bytes]]] = {}

            def store(part: dict[str, bytes]) -> None:
                for p, recs in store_users(rt, part, last).items():
                    by_partition.setdefault(p, []).extend(recs)

            parts = rt.updater.flush_parts(FLUSH_PART_USERS if pause else len(rt.updater.pending))
            try:
                for part in parts:
                    store(part)
                    if pause:
                        await asyncio.sleep(0)
            finally:
                for part in parts:  # cancelled mid-flush: the rest at once, so all of it persists
                    store(part)
                task = asyncio.ensure_future(persist(app, rt, events, done, by_partition,
                                                     writes[-1] if writes else None))
                task.add_done_callback(_report_failure)
                writes.append(task)

        try:
            async for events in take_batches(app, stream, tuning.batch_max, tuning.batch_within_s,
                                             tuning.batch_idle_s,
                                             rt.wait_catalog(tuning.catalog_ready_timeout_s),
                                             tick_s=FLUSH_TICK_S):
                if events:
                    t0 = time.perf_counter()
                    result = rt.updater.apply_pending([e.message for e in events], rt.read_user)
                    for user_id, idx in result.changed.items():
                        last_event[user_id] = events[idx]
                    events_in.extend(events)
                    results.append(result)
                    BATCH_SECONDS.observe(time.perf_counter() - t0)
                # Write-behind: a user's record is encoded and stored once per flush, not once
                # per batch. Flush when the stream is idle, on time, when many events wait, and
                # at once when a rebalance suspends the flow (the revoke waits for our acks).
                if events_in and (not events or loop.time() - since >= tuning.flush_interval_s
                                  or len(events_in) >= tuning.flush_events
                                  or not app.flow_control.is_active()):
                    await flush(pause=app.flow_control.is_active() and events.queued < BACKLOG_QUEUED)
                while writes and writes[0].done():
                    writes.popleft().result()  # a failed write stops the agent (Faust restarts it)
                if len(writes) > MAX_WRITES_IN_FLIGHT:  # back pressure: Kafka is the bottleneck
                    await writes.popleft()
                await asyncio.sleep(0)
        finally:
            if events_in:  # stopping (or restarting): what was applied still gets persisted
                await flush(pause=False)
            while writes:
                await writes.popleft()

    return update_user_state
