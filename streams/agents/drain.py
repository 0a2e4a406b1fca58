"""Faust's consumer loop: fetches made back to back in its consumer thread (:class:`_Pump`),
each fetched batch delivered under one ``wait_first``.

Faust's ``Consumer._drain_messages`` hands every message to the conductor inside
``wait_first(callback(message), suspend_flow.wait())``: four asyncio tasks, an
``asyncio.wait`` and three cancellations *per message*. On the loaded 2-core box that alone
held an agent that does nothing to 4-7k events/s. This loop does the same bookkeeping per
message (read offsets, gaps, ``commit_every``) and the same checks ``getmany`` makes per
record (flow still active, same consumer generation), but races the delivery of a whole
fetched batch against ``suspend_flow`` once. A rebalance (``stop_flow`` sets
``suspend_flow``) cancels the rest of the batch as it cancelled the one message before;
Faust then seeks back to the committed offsets, as it does today.

:func:`install` replaces the method on Faust's base ``Consumer`` class (idempotent);
:func:`set_fetch_max_wait` shortens how long the broker may hold the consumer's fetches.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any

from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.consumer import CONSUMER_FETCHING

log = logging.getLogger(__name__)
_ORIGINAL = faust_consumer.Consumer._drain_messages
_CREATE_CONSUMER = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer


async def _deliver(self: Any, batch: list[tuple[Any, Any]], generation_id: Any) -> None:
    callback = self.callback
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    acks_enabled_for = self.app.topics.acks_enabled_for
    commit_every = self._commit_every
    app = self.app
    for n, (tp, message) in enumerate(batch):
        if not self.flow_active or app.consumer_generation_id != generation_id:
            return  # as getmany stops yielding: the rest is fetched again after the seek
        if n and n % 100 == 0:
            await asyncio.sleep(0)  # as Faust does: let the loop breathe every 100 messages
        offset = message.offset
        r_offset = get_read_offset(tp)
        if r_offset is None or offset >= r_offset:
            gap = offset - (r_offset or 0)
            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                await self._add_gap(tp, r_offset + 1, offset)
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
            await callback(message)
            set_read_offset(tp, offset)


class _Pump:
    """Faust's fetches, made back to back inside its consumer thread.

    Faust asks its consumer thread for records from the event loop, one ``getmany`` at a
    time: the request and its answer each wait for the loop, and while a ranking batch holds
    the loop, aiokafka keeps the fetched records in its buffer and sends no new fetch request
    to that broker (it never does while records wait). Events sat there ~12-17 ms at
    200 events/s (stage timings in docs/benchmarks.md). Here the thread keeps fetching on its
    own, up to :attr:`DEPTH` batches ahead, and hands each batch to the loop with the consumer
    generation read after its fetch (as Faust's ``getmany`` reads it); the loop delivers them
    in order and drops a stale generation's records, as before.

    The loop publishes what may be fetched (:meth:`publish`: the active partitions, a frozen
    copy, since Faust changes its set in place on the loop) before it waits for a batch, and
    at least every ``timeout`` while it waits.
    """

    DEPTH = 2  # fetched batches the loop has not taken yet before the pump waits

    def __init__(self, consumer: Any) -> None:
        self.consumer, self.thread = consumer, consumer._thread
        self.loop = asyncio.get_running_loop()
        self.batches: asyncio.Queue[tuple[Any, frozenset[Any] | None, Any, BaseException | None]] = (
            asyncio.Queue())
        self.active: frozenset[Any] | None = frozenset()
        self._free: asyncio.Semaphore | None = None  # the thread loop's (made there)
        self._task: concurrent.futures.Future[None] | None = None

    def start(self) -> None:
        self._task = asyncio.run_coroutine_threadsafe(self._run(), self.thread.thread_loop)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def publish(self) -> None:
        c = self.consumer
        self.active = None if c.app.client_only else frozenset(c._get_active_partitions())

    def taken(self) -> None:
        """One batch left the queue: the pump may fetch another."""
        free = self._free
        if free is not None:
            self.thread.thread_loop.call_soon_threadsafe(free.release)

    async def _run(self) -> None:  # in Faust's consumer thread
        self._free = free = asyncio.Semaphore(self.DEPTH)
        thread, faust_consumer_ = self.thread, self.consumer
        put = self.batches.put_nowait
        try:
            aio = thread._ensure_consumer()
            while True:
                await free.acquire()
                active = self.active
                if (active is not None and not active) or not faust_consumer_.flow_active:
                    free.release()
                    await asyncio.sleep(0.005)  # rebalancing or nothing assigned: look again soon
                    continue
                records = await thread._fetch_records(aio, active, timeout=0.1,
                                                      max_records=aio._max_poll_records)
                if records:
                    generation = faust_consumer_.app.consumer_generation_id
                    self.loop.call_soon_threadsafe(put, (records, active, generation, None))
                else:
                    free.release()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the loop re-raises it (a stopped consumer, a broker error)
            self.loop.call_soon_threadsafe(put, (None, None, None, exc))


async def _next_batch(self: Any, pump: _Pump, timeout: float) -> tuple[list[tuple[Any, Any]], Any]:
    """The pump's next batch as Faust's ``getmany`` would give it: messages in scheduler
    order, only while the flow is active and the generation unchanged, and the end-offset
    bookkeeping once per partition per batch (Faust reads the highwater per *record*, ~3 µs
    each, though it cannot change within a batch). Empty after ``timeout`` without one."""
    pump.publish()
    try:
        records, active_partitions, generation_id, exc = await asyncio.wait_for(pump.batches.get(), timeout)
    except asyncio.TimeoutError:
        return [], None
    pump.taken()
    if exc is not None:
        raise exc
    if self.should_stop:
        return [], generation_id
    if not self.flow_active:
        try:
            await self.perform_seek()
        except Exception as ex:  # as Faust: a failed seek is retried by the next rebalance
            self.log.warning(f"exception performing seek when flow not active {ex}")
        return [], generation_id
    app, to_message, buffered = self.app, self._to_message, self._buffered_partitions
    track_end = app.monitor.track_tp_end_offset
    tracked: set[Any] = set()
    out: list[tuple[Any, Any]] = []
    for tp, record in self.scheduler.iterate(records):
        if not self.flow_active or app.consumer_generation_id != generation_id:
            break
        if active_partitions is None or tp in active_partitions or tp in buffered:
            if tp not in tracked:
                tracked.add(tp)
                track_end(tp, self.highwater(tp))
            out.append((tp, to_message(tp, record)))
    return out, generation_id


async def _drain_messages(self: Any, fetcher: Any) -> None:  # pragma: no cover - runs in workers
    if getattr(self, "_thread", None) is None:  # not Faust's threaded aiokafka consumer
        return await _ORIGINAL(self, fetcher)
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    pump = _Pump(self)
    pump.start()
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            self.diag.set_flag(CONSUMER_FETCHING)
            batch, generation_id = await _next_batch(self, pump, timeout=0.1)
            if batch and not self.should_stop:
                await self.wait_first(_deliver(self, batch, generation_id), self.suspend_flow.wait())
            else:
                await self.sleep(0)
            self.diag.unset_flag(CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        pump.stop()
        self.diag.unset_flag(CONSUMER_FETCHING)


def install() -> None:
    """Use the batched loop for every Faust consumer in this process."""
    faust_consumer.Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]


def set_fetch_max_wait(ms: int) -> None:
    """How long the broker may hold this process's Faust fetch requests (Faust fixes 1,500 ms).

    aiokafka keeps one fetch in flight per broker, and a partition whose records were not
    taken within 100 ms is left out of the next request: when that request covers only
    quiet partitions (control, requests, changelogs) the broker holds it for the whole wait,
    and the busy partition is not fetched again until it returns. Under load this fed on
    itself: at 1,000 events/s the worker's fetch calls waited ~0.5 s each for records that
    were on the broker (stage timings in docs/benchmarks.md). A short wait bounds that
    stall; an idle worker then sends up to ``1000 / ms`` empty fetches a second.
    """
    def create(self: Any, transport: Any) -> Any:
        consumer = _CREATE_CONSUMER(self, transport)
        consumer._fetch_max_wait_ms = ms  # read by AIOKafkaConsumer.start() for its Fetcher
        return consumer

    faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign]


def uninstall() -> None:
    faust_consumer.Consumer._drain_messages = _ORIGINAL  # type: ignore[method-assign]
    faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer = _CREATE_CONSUMER  # type: ignore[method-assign]
