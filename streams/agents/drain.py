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

:func:`install` replaces the method on Faust's base ``Consumer`` class (idempotent).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust.transport import consumer as faust_consumer
from faust.transport.consumer import CONSUMER_FETCHING

log = logging.getLogger(__name__)
_ORIGINAL = faust_consumer.Consumer._drain_messages


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


async def _drain_messages(self: Any, fetcher: Any) -> None:  # pragma: no cover - runs in workers
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            self.diag.set_flag(CONSUMER_FETCHING)
            batch = [pair async for pair in self.getmany(timeout=1.0)]
            # getmany yields only records of the generation current after its fetch, with no
            # await in between, so this is the generation of every record in ``batch``.
            generation_id = self.app.consumer_generation_id
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
        self.diag.unset_flag(CONSUMER_FETCHING)


def install() -> None:
    """Use the batched loop for every Faust consumer in this process."""
    faust_consumer.Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]


def uninstall() -> None:
    faust_consumer.Consumer._drain_messages = _ORIGINAL  # type: ignore[method-assign]
