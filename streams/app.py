"""The Faust app, built from Settings by a factory so tests can run several differently
configured workers (each in its own process) against one broker.

``create_app(settings)`` declares the users table, the user-state agent, the followers of
``item-vectors``, ``models`` and ``interactions`` (item statistics), and the web views.
Everything a later agent (ranking) needs is on ``app.genre`` (a :class:`Runtime`).
"""
from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field
from typing import Any

import faust
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.agents import user_state
from streams.agents.catalog import CurrentModel, ItemVectors
from streams.agents.follow import TopicFollower, aiokafka_config
from streams.agents.item_stats import ItemStatsFeed
from streams.agents.processing import UserStateUpdater
from streams.deadletter import DeadLetters
from streams.kafka_io import make_producer
from streams.settings import Settings
from streams.state.items import ItemStats, ItemStatsParams
from streams.state.user import UserParams
from streams.state.weights import EventWeights

log = logging.getLogger(__name__)
USERS_TABLE = "users"


class WorkerTuning(BaseSettings):
    """Knobs of the streams worker process (``GENRE_WORKER_*``); defaults suit production.

    Tests shorten the commit interval and timeouts; the benchmark turns the web server off.
    """

    model_config = SettingsConfigDict(env_prefix="GENRE_WORKER_", frozen=True, extra="ignore")
    batch_max: int = Field(default=20_000, ge=1, description="events per batch (at most)")
    stream_buffer: int = Field(
        default=20_000, ge=1, description="events Faust may queue for the agent (its "
        "stream_buffer_maxsize); a backlog batch takes what is queued, and a user's record is "
        "encoded once per batch, so bigger batches encode less per event")
    # Under a backlog the channel queue is never empty, so batches fill to thousands of
    # events whatever these say; when events trickle in, they are latency added to a list.
    batch_within_s: float = Field(default=0.005, gt=0, description="max wait to fill a batch")
    batch_idle_s: float = Field(default=0.001, ge=0,
                                description="a batch ends when no event arrived for this long")
    dedup_window: int = Field(default=32, ge=0, le=65535,
                              description="event ids kept per user; must cover one commit interval")
    batched_drain: bool = Field(default=True, description="deliver each fetched batch under one "
                                "wait_first instead of one per message (streams.agents.drain)")
    fetch_max_wait_ms: int = Field(
        default=50, ge=1, le=1500, description="longest the broker may hold a fetch of this "
        "worker's consumer (Faust's own: 1,500 ms); also the longest a partition left out of "
        "the fetch in flight waits (streams.agents.drain.set_fetch_max_wait)")
    switch_interval_s: float = Field(
        default=0.0005, gt=0, le=0.1, description="how often the interpreter hands the GIL "
        "between threads (Python's default 0.005): Faust's consumer thread needs it for each "
        "step of a fetch while the event loop ranks")
    state_cache_users: int = Field(
        default=5_000, ge=0, description="decoded user records kept in memory (0: decode every batch); "
                                         "tens of KiB each for a user with hundreds of seen items")
    commit_interval_s: float = Field(default=2.0, gt=0)
    commit_every: int = Field(default=10_000, ge=1)
    session_timeout_s: float = Field(default=30.0, gt=0)
    heartbeat_interval_s: float = Field(default=3.0, gt=0)
    rebalance_timeout_s: float = Field(default=60.0, gt=0)
    web_enabled: bool = True
    web_host: str = Field(default_factory=socket.gethostname,
                          description="host other workers use to reach this one's web port")
    item_stats: bool = Field(default=True, description="follow all interactions for item statistics")
    ranking: bool = Field(default=True, description="run the ranking side (off: user state only, "
                                                    "e.g. to benchmark it alone)")
    catalog_ready_timeout_s: float = Field(
        default=60.0, ge=0, description="wait this long for item vectors/model before processing")
    flush_interval_s: float = Field(
        default=1.0, gt=0, description="write-behind: changed user records are encoded, stored "
        "and sent to the changelog at most this long after they changed (sooner when idle or "
        "on a rebalance); their events are committed only after that")
    flush_events: int = Field(default=50_000, ge=1, description="flush once this many events "
                              "were applied since the last flush")
    gc_threshold: int = Field(
        default=200_000, ge=0, description="allocations between young-generation garbage "
        "collections (Python's default 700 made collection about a quarter of a busy worker); 0 keeps it")


@dataclass
class Counts:
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0


@dataclass
class Runtime:
    """The worker's shared parts, reachable from agents and views as ``app.genre``."""

    settings: Settings
    tuning: WorkerTuning
    users: Any  # faust Table[bytes (user id, UTF-8), bytes (record.encode)]
    vectors: ItemVectors
    model: CurrentModel
    items: ItemStats
    updater: UserStateUpdater
    deadletters: DeadLetters
    producer: Any  # confluent_kafka.Producer behind the dead letters
    followers: dict[str, TopicFollower] = field(default_factory=dict)
    stats: Counts = field(default_factory=Counts)
    config: Any = None  # streams.agents.control.WorkerConfig (control fold), set by register
    ranking: Any = None  # streams.agents.ranking.RankingAgent, set by register

    def read_user(self, user_id: str) -> bytes | None:
        return self.users.get(user_id.encode())

    async def wait_catalog(self, timeout_s: float) -> None:
        """Hold interactions until item vectors and models present at start are loaded,
        so a restarted worker folds the same vectors a long-running one would."""
        waits = [f.ready.wait() for n, f in self.followers.items() if n != "interactions"]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout_s)
        except asyncio.TimeoutError:
            log.warning("catalog not loaded after %.0fs; processing anyway", timeout_s)

    def deadletters_flush(self) -> None:
        self.producer.poll(0)


def _credentials(settings: Settings) -> dict[str, Any]:
    conf = aiokafka_config(settings)
    out: dict[str, Any] = {}
    if settings.kafka_sasl_mechanism:
        out["broker_credentials"] = faust.SASLCredentials(
            username=conf["sasl_plain_username"], password=conf.get("sasl_plain_password"),
            mechanism=settings.kafka_sasl_mechanism, ssl_context=conf.get("ssl_context"))
    elif "ssl_context" in conf:
        out["broker_credentials"] = faust.SSLCredentials(conf["ssl_context"])
    return out


def faust_config(settings: Settings, tuning: WorkerTuning) -> dict[str, Any]:
    """faust.App keyword arguments from Settings + WorkerTuning."""
    return dict(
        id=settings.app_id,
        broker=[f"kafka://{h}" for h in settings.bootstrap.split(",")],
        store=settings.table_store,
        datadir=str(settings.state_dir / "faust" / settings.app_id),
        autodiscover=False, topic_disable_leader=True,
        topic_partitions=settings.partitions, topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest", producer_acks=-1, producer_compression_type="lz4",
        # Changelog batches hold hundreds of user records (2-4 KB each); 16 KB batches and no
        # linger made a table write of one batch take ~100 produce round trips.
        producer_max_batch_size=1_000_000, producer_linger=0.02,
        producer_max_request_size=max(4_000_000, 2 * settings.max_message_bytes),
        stream_buffer_maxsize=tuning.stream_buffer,
        broker_commit_interval=tuning.commit_interval_s, broker_commit_every=tuning.commit_every,
        broker_session_timeout=tuning.session_timeout_s,
        broker_heartbeat_interval=tuning.heartbeat_interval_s,
        broker_rebalance_timeout=tuning.rebalance_timeout_s,
        web_enabled=tuning.web_enabled, web_port=settings.worker_web_port, web_host=tuning.web_host,
        web_bind="0.0.0.0", canonical_url=f"http://{tuning.web_host}:{settings.worker_web_port}",
        **_credentials(settings),
    )


def _runtime(app: faust.App, settings: Settings, tuning: WorkerTuning) -> Runtime:
    weights = EventWeights.from_specs(settings.all_event_types)
    # Raw keys (user id bytes): ``table_route`` hashes the serialized key with the producer's
    # murmur2 partitioner, which must agree with the partition of the interaction key.
    users = app.Table(USERS_TABLE, key_type=bytes, value_type=bytes, partitions=settings.partitions)
    vectors, model = ItemVectors(), CurrentModel()
    producer = make_producer(settings)
    updater = UserStateUpdater(settings.all_event_types, settings.max_message_bytes,
                               UserParams(weights=weights), vectors.get, model.get, tuning.dedup_window)
    return Runtime(settings=settings, tuning=tuning, users=users, vectors=vectors, model=model,
                   items=ItemStats(ItemStatsParams(weights=weights)), updater=updater,
                   deadletters=DeadLetters(producer, settings), producer=producer)


def _followers(app: faust.App, rt: Runtime) -> None:
    s = rt.settings
    rt.followers["item-vectors"] = TopicFollower(s, s.topic("item-vectors"), rt.vectors.on_record)
    rt.followers["models"] = TopicFollower(s, s.topic("models"), rt.model.on_record)
    if rt.tuning.item_stats:
        feed = ItemStatsFeed(s, rt.items)
        rt.followers["interactions"] = TopicFollower(s, s.topic("interactions"), feed.on_record)
    for follower in rt.followers.values():
        app.task(follower.run)


def create_app(settings: Settings, tuning: WorkerTuning | None = None) -> faust.App:
    """A fully wired Faust app (not started); ``streams.worker`` runs it."""
    from streams.web import config as config_views
    from streams.web import recommendations, views

    tuning = tuning or WorkerTuning()
    (settings.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(**faust_config(settings, tuning))
    rt = _runtime(app, settings, tuning)
    app.genre = rt  # type: ignore[attr-defined]
    user_state.register(app, rt)
    _followers(app, rt)
    if tuning.ranking:
        _ranking(app, rt)
    if tuning.web_enabled:
        views.register(app, rt)
        if tuning.ranking:
            recommendations.register(app, rt, rt.ranking)
            config_views.register(app, rt, rt.config)
    return app


def _ranking(app: faust.App, rt: Runtime) -> None:
    """Config fold, ranking agent and requests agent (issue 5)."""
    from streams.agents import control, ranking, requests

    rt.config = control.register(app, rt)
    rt.ranking = ranking.register(app, rt, rt.config)
    requests.register(app, rt, rt.ranking)
