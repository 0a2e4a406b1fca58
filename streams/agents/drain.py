"""Faust's consumer loop, delivering each fetched batch under one ``wait_first``.

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


async def _getmany(self: Any, timeout: float) -> tuple[list[tuple[Any, Any]], Any]:
    """Faust's ``Consumer.getmany`` as one list, with the end-offset bookkeeping per batch,
    and the consumer generation its records belong to.

    Faust reads the partition's highwater and records it for the lag monitor once per
    *record* (~3 µs each); the value cannot change within one fetched batch (no await in
    the loop), so it is read once per partition per batch. Everything else is as Faust does.
    """
    records, active_partitions = await self._wait_next_records(timeout)
    generation_id = self.app.consumer_generation_id
    if records is None or self.should_stop:
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
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    # The next fetch is asked for *before* this batch is delivered. aiokafka sends no new
    # fetch request to a broker while any partition's records wait in its buffer, and Faust
    # only asks for them after delivering the previous batch: an event arriving meanwhile
    # waited for the delivery, the agent's work and two thread hops (~17 ms at 200 events/s,
    # measured) before it was even requested. Records of a stale generation are dropped by
    # ``_deliver`` as before, and Faust seeks back to the committed offsets.
    pending: asyncio.Future[tuple[list[tuple[Any, Any]], Any]] | None = None
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            self.diag.set_flag(CONSUMER_FETCHING)
            if pending is None:
                pending = asyncio.ensure_future(_getmany(self, timeout=1.0))
            batch, generation_id = await pending
            pending = None
            if not (consumer_should_stop() or fetcher_should_stop() or self.should_stop):
                pending = asyncio.ensure_future(_getmany(self, timeout=1.0))
            await self.sleep(0)
            if batch and not self.should_stop:
                await self.wait_first(_deliver(self, batch, generation_id), self.suspend_flow.wait())
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
        if pending is not None and not pending.done():
            pending.cancel()
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
