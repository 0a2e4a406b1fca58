"""`genre demo` (the README's first command): the whole loop on MovieLens-100K.

Starts the stack, publishes the 1,682 movies (titles, genres, plots, posters when the
media folder exists) and waits until they are encoded, replays every rating through
Kafka at a steady rate while the trainer retrains on schedule, waits until the workers
have caught up, then scores what the stack emitted (``genre eval --live``) beside the
offline replay of the same config, and says where to look.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from streams import config_admin, stack
from streams.kafka_io import read_to_end, watermarks
from streams.replay import replay_movielens
from streams.settings import Settings

log = logging.getLogger(__name__)


def wait_encoded(settings: Settings, timeout_s: float = 900.0) -> int:
    """Wait until the encoder group has committed every ``items`` message (encoded or
    dead-lettered); returns how many items have vectors."""
    from confluent_kafka import TopicPartition

    from encoders.config import EncoderSettings
    from streams.kafka_io import make_consumer
    topic = settings.topic("items")
    probe = make_consumer(settings, EncoderSettings().group_id)  # never subscribes: reads commits only
    try:
        parts = [TopicPartition(topic, p) for p in probe.list_topics(topic, timeout=10).topics[topic].partitions]
        ends = {tp.partition: watermarks(probe, tp)[1] for tp in parts}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done = {tp.partition: tp.offset for tp in probe.committed(parts, timeout=10)}
            left = sum(max(end - max(done.get(p, 0), 0), 0) for p, end in ends.items())
            if left == 0:
                return len({m.key() for m in read_to_end(settings, settings.topic("item-vectors")) if m.value()})
            log.info("encoding: %d items to go", left)
            time.sleep(5)
    finally:
        probe.close()
    raise TimeoutError(f"items not all encoded after {timeout_s:.0f}s; see encoder-worker.log")


def wait_idle(settings: Settings, quiet_s: float = 10.0, timeout_s: float = 900.0) -> int:
    """Wait until no new recommendation list has appeared for ``quiet_s`` seconds."""
    from confluent_kafka import TopicPartition

    from streams.kafka_io import make_consumer
    topic = settings.topic("recommendations")
    c = make_consumer(settings, f"{settings.app_id}-demo-probe")
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        last_total, last_change = -1, time.monotonic()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            total = sum(watermarks(c, TopicPartition(topic, p))[1] for p in parts)
            if total != last_total:
                last_total, last_change = total, time.monotonic()
            elif time.monotonic() - last_change >= quiet_s:
                return total
            time.sleep(1)
        raise TimeoutError("the stack was still emitting lists after the replay")
    finally:
        c.close()


def run_demo(settings: Settings, rate: float = 500.0, limit: int | None = None, out: Path = Path("reports"),
             compare: bool = True, causal: bool = True, bandit: bool = False) -> dict[str, Any]:
    """Run the loop; ``causal`` makes each user's scored rating wait for the list that
    answers their previous one, as the offline protocol assumes (see CausalGate)."""
    from streams.data.movielens import load_movielens
    from streams.eval.live import run_live, summary_text

    t0 = time.monotonic()
    stack.up(settings, workers=False)
    # Lists of 20 so HR@20 can be scored too (the offline protocol ranks 20). With the
    # bandit, the loop starts from equal weights (the feedback worker reads them at start).
    change: dict[str, Any] = {"k": 20, "source": "demo", "note": "demo: lists of 20 for HR@20"}
    if bandit:
        os.environ["GENRE_FEEDBACK_BANDIT"] = "1"
        change["weights"] = config_admin.full_weights({s: 0.2 for s in ("session", "transitions", "cf", "content", "popular")})
    config_admin.propose(settings, change)
    stack.up(settings)
    stack.wait_ready(settings)
    n_items = len(load_movielens().items)
    replay_movielens(settings, ratings=False)
    encoded = wait_encoded(settings)
    log.info("stack up; %d of %d items encoded (the rest dead-lettered) in %.0fs; replaying ratings at %.0f/s",
             encoded, n_items, time.monotonic() - t0, rate)
    n = limit or len(load_movielens(with_media=False).ratings)
    replay_movielens(settings, items=False, rate=rate, limit=limit, causal_from=n // 2 if causal else None)
    lists = wait_idle(settings)
    offline = None
    if compare and limit is None:
        from streams.eval.offline import OfflineConfig, run_offline
        offline = run_offline(OfflineConfig(baselines=(), weights=config_admin.current_weights(settings, "default"),
                                            out_dir=None)).rows["product"]
    report, score = run_live(settings, out, offline)
    print(summary_text(report, score))
    url = f"http://127.0.0.1:{settings.worker_web_port}"
    print(f"\n{lists:,} lists emitted in {time.monotonic() - t0:.0f}s. Where to look:\n"
          f"  report:           {out / 'quality-live.md'}\n"
          f"  a user's state:   {url}/users/196   (genre user show 196)\n"
          f"  recommendations:  {url}/recommendations/196\n"
          f"  feedback / CTR:   {settings.state_dir / 'feedback.json'}\n"
          f"  config:           genre config show   (genre config set --weights session=1)\n"
          f"  stop everything:  genre down")
    return {"lists": lists, "live": report.rows.get("live"), "offline": offline}
