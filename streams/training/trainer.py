"""Periodic CF trainer: interaction log -> ALS item factors -> versioned :class:`CFModel`.

The log is the ``interactions`` wire format (dicts or a JSONL file). The newest
``holdout`` fraction of events is held out to measure the factors before the
shipped model is refit on the whole log, so the reported metrics are honest.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import orjson
import scipy.sparse as sp

from streams.errors import InvalidMessage
from streams.schemas import Interaction, interaction_from_dict
from streams.settings import DEFAULT_EVENT_TYPES, EventTypeSpec
from streams.training.als import ALSParams, FoldIn, fit_item_factors
from streams.training.model import CFModel


@dataclass(frozen=True)
class TrainConfig:
    """What counts as positive feedback, and how much of the log's tail is held out."""

    als: ALSParams = ALSParams()
    positive_rating: float = 4.0
    holdout: float = 0.1
    k: int = 10


def read_jsonl(path: str | Path) -> list[dict]:
    """Events from a JSONL file (blank lines skipped)."""
    with open(path, "rb") as fh:
        return [orjson.loads(line) for line in fh if line.strip()]


def parse_log(events: Iterable[Mapping], types: Mapping[str, EventTypeSpec] = DEFAULT_EVENT_TYPES) -> list[Interaction]:
    """Valid interactions sorted by (ts, user, item); invalid ones are dropped, as deadletter would."""
    parsed = []
    for obj in events:
        try:
            parsed.append(interaction_from_dict(obj, types))
        except InvalidMessage:
            continue
    return sorted(parsed, key=lambda e: (e.ts, e.user_id, e.item_id))


def is_positive(event: Interaction, config: TrainConfig, types: Mapping[str, EventTypeSpec] = DEFAULT_EVENT_TYPES) -> bool:
    """Ratings at or above the threshold; other types when their configured weight is positive."""
    if event.value is not None and types.get(event.type, EventTypeSpec()).requires_value:
        return event.value >= config.positive_rating
    return types.get(event.type, EventTypeSpec(weight=0.0)).weight > 0


def positive_pairs(log: list[Interaction], config: TrainConfig) -> list[tuple[str, str]]:
    """Distinct (user, item) positive pairs in first-seen order."""
    return list(dict.fromkeys((e.user_id, e.item_id) for e in log if is_positive(e, config)))


def _matrix(pairs: list[tuple[str, str]], users: dict[str, int], items: dict[str, int]) -> sp.csr_matrix:
    rows = [users[u] for u, _ in pairs]
    cols = [items[i] for _, i in pairs]
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(users), len(items)))


def holdout_metrics(train: list[tuple[str, str]], test: list[tuple[str, str]], config: TrainConfig) -> dict[str, float]:
    """HR@k / NDCG@k of each held-out positive against its user's list from the training factors.

    Only users and items known at training time can be ranked; others count as misses.
    """
    users = {u: n for n, u in enumerate(dict.fromkeys(u for u, _ in train))}
    items = {i: n for n, i in enumerate(dict.fromkeys(i for _, i in train))}
    if not train or not test:
        return {"holdout_events": float(len(test))}
    matrix = _matrix(train, users, items)
    fold = FoldIn.build(fit_item_factors(matrix, config.als), config.als.regularization, config.als.alpha)
    hits = ndcg = known = 0.0
    lists: dict[str, np.ndarray] = {}
    for user, item in test:
        if user not in users or item not in items:
            continue
        known += 1.0
        if user not in lists:
            rated = matrix[users[user]].indices
            scores = fold.item_factors @ fold.user_vector(rated)
            scores[rated] = -np.inf
            lists[user] = np.argsort(-scores, kind="stable")[: config.k]
        where = np.flatnonzero(lists[user] == items[item])
        if where.size:
            hits += 1.0
            ndcg += 1.0 / float(np.log2(where[0] + 2))
    n = len(test)
    return {f"hr@{config.k}": hits / n, f"ndcg@{config.k}": ndcg / n,
            "holdout_events": float(n), "holdout_known": known}


def version_of(pairs: list[tuple[str, str]], config: TrainConfig, trained_at: float) -> str:
    """A readable, content-addressed version: time stamp plus a hash of data and parameters."""
    digest = hashlib.sha256(orjson.dumps([pairs, asdict(config)])).hexdigest()[:10]
    return f"cf-als-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(trained_at))}-{digest}"


def train_cf(events: Iterable[Mapping] | str | Path, config: TrainConfig = TrainConfig()) -> CFModel:
    """Fit item factors on the whole log and report metrics measured on its held-out tail."""
    raw = read_jsonl(events) if isinstance(events, (str, Path)) else events
    log = parse_log(raw)
    cut = int(len(log) * (1.0 - config.holdout))
    head, tail = log[:cut], log[cut:]
    seen = {(e.user_id, e.item_id) for e in head}
    test = [p for p in positive_pairs(tail, config) if p not in seen]
    metrics = holdout_metrics(positive_pairs(head, config), test, config)
    return fit_model(positive_pairs(log, config), config, metrics)


def fit_model(pairs: list[tuple[str, str]], config: TrainConfig = TrainConfig(),
              metrics: dict[str, float] | None = None) -> CFModel:
    """The artefact for distinct positive (user, item) pairs; items keep first-seen order."""
    users = {u: n for n, u in enumerate(dict.fromkeys(u for u, _ in pairs))}
    items = {i: n for n, i in enumerate(dict.fromkeys(i for _, i in pairs))}
    factors = fit_item_factors(_matrix(pairs, users, items), config.als) if pairs else np.zeros((0, config.als.factors), np.float32)
    trained_at = time.time()
    return CFModel(
        item_ids=list(items), factors=factors, regularization=config.als.regularization,
        version=version_of(pairs, config, trained_at), trained_at=trained_at,
        metrics=dict(metrics or {}), params={**asdict(config.als), "positive_rating": config.positive_rating},
    )
