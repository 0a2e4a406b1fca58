"""The feedback worker: joins ``recommendations`` with later ``interactions``.

It attributes each answer to the list and sources that caused it, keeps per-source,
per-config-version and per-variant CTR (Prometheus + a JSON report file), and — with
the bandit on — proposes new fusion weights to ``control`` with the evidence attached
(the control topic keeps every change forever, so the log of changes is the topic).
Run one per cluster (it reads every partition); ``python -m streams.feedback.worker``.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge

from streams import config_admin
from streams.errors import InvalidMessage
from streams.feedback.attribution import Attributor, ShownList
from streams.feedback.bandit import BanditParams, WeightBandit
from streams.feedback.join import TimeMerge
from streams.kafka_io import make_consumer
from streams.schemas import Interaction, parse_interaction
from streams.settings import Settings, get_settings
from streams.state.weights import EventWeights
from streams.wire import dumps, loads

log = logging.getLogger(__name__)
ANSWERS = Counter("genre_feedback_answers_total", "Interactions that answered a list", ["variant"])
CTR = Gauge("genre_feedback_ctr", "Answered / shown items per source", ["source"])
WEIGHT = Gauge("genre_feedback_bandit_weight", "Fusion weight the bandit holds", ["source"])


@dataclass
class FeedbackLoop:
    """Pure-ish core: feed it lists and events in time order; it may return a proposal."""

    weights: EventWeights
    bandit: WeightBandit | None = None
    scenario: str = "default"
    attributor: Attributor = field(default_factory=Attributor)

    def on_list(self, rec: dict[str, Any]) -> None:
        if rec.get("request_id"):
            return  # answers to explicit requests are not what the loop tunes
        shown = ShownList.from_wire(rec)
        self.attributor.shown(shown)
        if self.bandit and (rec.get("scenario") or "default") == self.scenario:
            self.bandit.observe_list(shown)

    def on_event(self, ev: Interaction) -> dict[str, Any] | None:
        """Attribute one event; returns a control proposal when the bandit moves."""
        reward = self.weights.signal(ev.type, ev.value).positive
        att = self.attributor.answer(ev, reward)
        if att is None:
            return None
        ANSWERS.labels(variant=att.variant).inc()
        if not self.bandit or reward <= 0:
            return None
        self.bandit.observe_answer(att)
        prop = self.bandit.propose()
        if prop is None:
            return None
        return {"scenario": self.scenario, "weights": prop.weights, "source": "bandit",
                "note": f"bandit update {prop.evidence['update']}", "evidence": prop.evidence}


def _bandit(settings: Settings, scenario: str, enabled: bool) -> WeightBandit | None:
    if not enabled:
        return None
    weights = config_admin.current(settings).get(scenario).config["weights"]
    return WeightBandit(dict(weights), BanditParams(
        learning_rate=float(os.environ.get("GENRE_BANDIT_LEARNING_RATE", 1.0)),
        floor=float(os.environ.get("GENRE_BANDIT_FLOOR", 0.02)),
        max_step=float(os.environ.get("GENRE_BANDIT_MAX_STEP", 0.1)),
        min_answers=int(os.environ.get("GENRE_BANDIT_MIN_ANSWERS", 200)),
        min_shown=float(os.environ.get("GENRE_BANDIT_MIN_SHOWN", 2000))))


def run(settings: Settings, stop: threading.Event, bandit: bool = False, scenario: str = "default",
        report_path: Path | None = None, report_every_s: float = 5.0) -> FeedbackLoop:
    loop = FeedbackLoop(EventWeights.from_specs(settings.all_event_types), _bandit(settings, scenario, bandit),
                        scenario)
    topics = {settings.topic("recommendations"): "lists", settings.topic("interactions"): "events"}
    consumer = make_consumer(settings, f"{settings.app_id}-feedback")
    consumer.subscribe(list(topics))
    merge = TimeMerge(("lists", "events"))
    last_report = 0.0
    try:
        while not stop.is_set():
            now = time.monotonic()
            for msg in consumer.consume(2000, timeout=0.2):
                if not msg.error():
                    merge.push(topics[msg.topic()], msg.timestamp()[1] / 1000.0, msg, now)
            for stream, msg in merge.pop_ready(time.monotonic()):
                _handle(settings, loop, stream, msg)
            if now - last_report > report_every_s:
                if report_path:
                    _report(loop, report_path)
                # Counters live in memory; committing only moves the group past what was
                # counted, so a restart resumes instead of double-counting.
                if len(merge) == 0:
                    consumer.commit(asynchronous=True)
                last_report = now
    finally:
        consumer.close()
        if report_path:
            _report(loop, report_path)
    return loop


def _handle(settings: Settings, loop: FeedbackLoop, stream: str, msg: Any) -> None:
    try:
        if stream == "lists":
            if msg.value():
                loop.on_list(loads(msg.value()))
            return
        ev = parse_interaction(msg.value(), settings.all_event_types, settings.max_message_bytes,
                               msg.timestamp()[1] / 1000.0)
    except (InvalidMessage, ValueError, KeyError, TypeError):
        return  # the streams workers dead-letter bad interactions; bad lists are not ours to judge
    proposal = loop.on_event(ev)
    if proposal:
        try:
            cv = config_admin.propose(settings, proposal)
            log.info("bandit: %s v%d weights %s evidence %s", cv.scenario, cv.version, proposal["weights"],
                     proposal["evidence"])
        except InvalidMessage as exc:
            log.warning("bandit proposal refused: %s", exc.reason)


def _report(loop: FeedbackLoop, path: Path) -> None:
    rep = loop.attributor.report()
    if loop.bandit:
        rep["bandit"] = {"weights": loop.bandit.weights, "updates": loop.bandit.updates}
        for s, w in loop.bandit.weights.items():
            WEIGHT.labels(source=s).set(w)
    for s, c in rep["sources"].items():
        CTR.labels(source=s).set(c["ctr"])
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(dumps(rep))
    tmp.replace(path)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    run(settings, stop, bandit=os.environ.get("GENRE_FEEDBACK_BANDIT", "0") == "1",
        scenario=os.environ.get("GENRE_FEEDBACK_SCENARIO", "default"),
        report_path=settings.state_dir / "feedback.json")


if __name__ == "__main__":
    main()
