"""``genre eval --live``: score what the running stack actually emitted during a replay.

The protocol is the offline one (streams.eval.protocol): events in (timestamp, user,
item) order, the first half warms up, every later rating ≥ 4 is scored against the list
the user had at that moment — here, the last list the stack emitted for the user whose
trigger event came earlier in the replay order (lists answering requests are ignored).
A scored event for which the stack had emitted no list yet counts as a miss.
"""
from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streams.eval.metrics import MetricTotals
from streams.eval.protocol import POSITIVE
from streams.eval.report import Report, table_markdown, write_report

log = logging.getLogger(__name__)


def _id_key(x: str) -> tuple[int, Any]:
    """Numeric ids sort as numbers (MovieLens), others as strings."""
    return (0, int(x)) if x.isdigit() else (1, x)


def replay_order(events: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(events, key=lambda e: (e["ts"], _id_key(e["user_id"]), _id_key(e["item_id"])))


@dataclass
class LiveScore:
    totals: MetricTotals
    no_list: int = 0  # scored events with no earlier list for the user
    stale: int = 0  # scored events whose list was triggered before the user's previous event
    versions: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # config version → lists used


def score_live(events: Sequence[Mapping[str, Any]], lists: Sequence[Mapping[str, Any]],
               positive: float = POSITIVE) -> LiveScore:
    """Pure scoring of emitted lists against the replayed events."""
    order = replay_order(events)
    pos = {e["event_id"]: i for i, e in enumerate(order)}
    catalogue = {e["item_id"] for e in order}
    item_index = {it: n for n, it in enumerate(sorted(catalogue, key=_id_key))}
    per_user: dict[str, list[tuple[int, Mapping[str, Any]]]] = defaultdict(list)
    for rec in lists:
        trig = pos.get(rec.get("trigger_event_id") or "")
        if trig is not None and not rec.get("request_id"):
            per_user[str(rec["user_id"])].append((trig, rec))
    for recs in per_user.values():
        recs.sort(key=lambda p: p[0])
    triggers = {u: [t for t, _ in recs] for u, recs in per_user.items()}
    score = LiveScore(MetricTotals(catalogue_size=len(catalogue)))
    previous: dict[str, int] = {}
    for j, ev in enumerate(order):
        user = ev["user_id"]
        if j >= len(order) // 2 and float(ev.get("value") or 0) >= positive:
            recs = per_user.get(user, [])
            at = bisect.bisect_left(triggers.get(user, []), j) - 1
            if at < 0:
                score.no_list += 1
                score.totals.add(np.empty(0, np.int64), item_index[ev["item_id"]])
            else:
                trig, rec = recs[at]
                score.stale += int(trig < previous.get(user, -1))
                score.versions[int(rec.get("config_version", 0))] += 1
                ids = [str(it["item_id"]) for it in rec.get("items", [])]
                explain = {str(it["item_id"]): it.get("sources") or {} for it in rec.get("items", [])}
                arr = np.array([item_index.get(i, -1) for i in ids], dtype=np.int64)
                score.totals.add(arr, item_index[ev["item_id"]], explain.get(ev["item_id"]))
        previous[user] = j
    return score


def live_report(score: LiveScore, offline: Mapping[str, float] | None = None) -> Report:
    rows = {"live": score.totals.summary()}
    if offline:
        rows["offline (same config)"] = dict(offline)
    return Report(split="live", scored=score.totals.scored, rows=rows,
                  traces={"live": score.totals.hit_trace}, source_share=score.totals.source_share())


def gap(live: Mapping[str, float], offline: Mapping[str, float], metric: str = "hr@10") -> float:
    """Relative gap of live to offline (−0.05 = live is 5 % lower)."""
    return (live[metric] - offline[metric]) / offline[metric] if offline.get(metric) else float("nan")


def run_live(settings: Any, out_dir: Path | None = Path("reports"),
             offline: Mapping[str, float] | None = None) -> tuple[Report, LiveScore]:
    """Read ``interactions`` and ``recommendations`` from Kafka, score, write the report."""
    from streams.errors import InvalidMessage
    from streams.kafka_io import read_to_end
    from streams.schemas import interaction_to_dict, parse_interaction
    from streams.wire import loads

    events = []
    for msg in read_to_end(settings, settings.topic("interactions")):
        try:
            ev = parse_interaction(msg.value(), settings.all_event_types, settings.max_message_bytes,
                                   msg.timestamp()[1] / 1000.0)
        except InvalidMessage:
            continue
        if ev.type == "rating":
            events.append(interaction_to_dict(ev))
    lists = [loads(m.value()) for m in read_to_end(settings, settings.topic("recommendations")) if m.value()]
    log.info("live eval: %d rating events, %d lists", len(events), len(lists))
    score = score_live(events, lists)
    report = live_report(score, offline)
    if out_dir is not None:
        write_report(report, out_dir)
        report.files.append(plot_config_weights(settings, out_dir / "weights-live.png"))
    return report, score


def plot_config_weights(settings: Any, path: Path, scenario: str = "default") -> Path:
    """The scenario's fusion weights at every config version (bandit moves included)."""
    from streams.config_admin import current
    from streams.eval.bandit_sim import plot_weights
    fold = current(settings)
    history = [(cv.version, cv.config["weights"]) for cv in fold.history if cv.scenario == scenario]
    return plot_weights(history or [(0, fold.get(scenario).config["weights"])], path,
                        xlabel="config version", title=f"Fusion weights of '{scenario}' over the replay")


def summary_text(report: Report, score: LiveScore) -> str:
    lines = [f"live replay: {report.scored:,} scored events; {score.no_list} without a list; "
             f"{score.stale} answered by a coalesced (older) list", table_markdown(report.rows)]
    if "offline (same config)" in report.rows:
        g = gap(report.rows["live"], report.rows["offline (same config)"])
        lines.append(f"live HR@10 is {g:+.1%} from offline at the same config")
    return "\n".join(lines)
