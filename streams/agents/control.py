"""Runtime config on every worker: a ControlFollower thread, and one dead-letterer per cluster.

Every worker folds the whole ``control`` topic itself (:class:`streams.control.ControlFollower`,
no consumer group), so each has every version within ~0.2 s of its publication and the
ranking agent reads the active config from memory. A proposal that the fold refuses
(published straight to Kafka, e.g. with kcat, past ``genre config set``'s own check)
must reach ``deadletter`` exactly once, not once per worker: so the dead letter is
written by a Faust agent in the worker group (``control`` has one partition, so one
worker owns it), which waits until its own fold has passed that offset and asks
whether it was refused.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge

from streams.config_admin import new_control_log
from streams.control import ConfigVersion, ControlFollower

if TYPE_CHECKING:
    from streams.app import Runtime

log = logging.getLogger(__name__)

REFUSED = Counter("genre_control_refused_total", "Control proposals refused by this worker's fold")
VERSION = Gauge("genre_control_version", "Active config version per scenario", ["scenario"])


class WorkerConfig:
    """The worker's control fold plus the reasons of refused offsets (bounded)."""

    def __init__(self, rt: Runtime, max_refused: int = 10_000) -> None:
        self.follower = ControlFollower(rt.settings, new_control_log(), on_change=self._changed,
                                        on_invalid=self._refused)
        self.refused: OrderedDict[int, str] = OrderedDict()
        self._max = max_refused
        self._lock = threading.Lock()
        self.started = asyncio.Event()

    @property
    def log(self) -> Any:
        return self.follower.log

    def get(self, scenario: str | None = None) -> ConfigVersion:
        return self.follower.log.get(scenario)

    def _changed(self, cv: ConfigVersion) -> None:
        VERSION.labels(scenario=cv.scenario).set(cv.version)

    def _refused(self, msg: Any, reason: str) -> None:
        REFUSED.inc()
        with self._lock:
            self.refused[msg.offset()] = reason
            while len(self.refused) > self._max:
                self.refused.popitem(last=False)

    def folded_past(self, offset: int) -> bool:
        return self.follower.log.next_offset > offset

    def refusal(self, offset: int) -> str | None:
        with self._lock:
            return self.refused.get(offset)


async def run_follower(cfg: WorkerConfig) -> None:
    """Start the follower off the loop (its catch-up blocks), keep it until the worker stops."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, cfg.follower.start)
    cfg.started.set()
    log.info("control fold caught up at offset %d", cfg.follower.log.next_offset)
    try:
        await asyncio.Event().wait()
    finally:
        await loop.run_in_executor(None, cfg.follower.stop)


async def await_fold(cfg: WorkerConfig, offset: int, timeout_s: float = 30.0) -> bool:
    """Wait until this worker's fold has applied or refused ``offset``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not cfg.folded_past(offset):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def register(app: Any, rt: Runtime) -> WorkerConfig:
    """Declare the follower task and the dead-letter agent; returns the worker's config."""
    cfg = WorkerConfig(rt)
    app.task(lambda: run_follower(cfg))
    topic = app.topic(rt.settings.topic("control"), key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw", partitions=1)

    @app.agent(topic, name="deadletter_refused_control")
    async def deadletter_refused_control(stream: Any) -> None:
        async for event in stream.events():
            m = event.message
            if not await await_fold(cfg, m.offset):
                log.error("control offset %d not folded in time; not judged", m.offset)
                continue
            reason = cfg.refusal(m.offset)
            if reason is not None:
                rt.deadletters.send(m.value, m.topic, m.partition, m.offset, reason, key=m.key)
                rt.deadletters_flush()

    return cfg
