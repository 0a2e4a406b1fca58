"""The worker's Faust consumer settings (streams.agents.drain), on a real Faust app object."""
from __future__ import annotations

import asyncio

import faust

from streams.agents import drain


def _created_consumer_wait_ms() -> int:
    async def build() -> int:
        app = faust.App("drain-test", broker="kafka://127.0.0.1:1", store="memory://")
        thread = app.consumer._thread  # the AIOKafkaConsumerThread that owns aiokafka's consumer
        consumer = thread._create_worker_consumer(app.transport)
        return consumer._fetch_max_wait_ms

    return asyncio.run(build())


def test_fetch_max_wait_is_ours_and_uninstall_restores_faust() -> None:
    faust_default = _created_consumer_wait_ms()
    try:
        drain.set_fetch_max_wait(37)
        assert _created_consumer_wait_ms() == 37
    finally:
        drain.uninstall()
    assert _created_consumer_wait_ms() == faust_default == 1500
