"""CF trainer: factors separate obvious clusters, and the artefact survives the byte format."""

import numpy as np
import pytest

from streams.training import CFModel, ModelFormatError, TrainConfig, train_cf
from streams.training.als import ALSParams


def _two_cluster_log() -> list[dict]:
    """Users 0-9 like items a0-a5, users 10-19 like b0-b5; ratings of 2 are noise across."""
    events, ts = [], 0
    for u in range(20):
        group = "a" if u < 10 else "b"
        other = "b" if u < 10 else "a"
        for i in range(6):
            if (u + i) % 4 == 0:
                continue  # leave gaps so the task is not a copy
            ts += 1
            events.append({"event_id": f"{u}-{i}", "type": "rating", "user_id": str(u),
                           "item_id": f"{group}{i}", "ts": ts, "value": 5})
        ts += 1
        events.append({"event_id": f"{u}-x", "type": "rating", "user_id": str(u),
                       "item_id": f"{other}{u % 6}", "ts": ts, "value": 2})
    events.append({"event_id": "bad", "type": "nope", "user_id": "1", "item_id": "a1", "ts": 1})
    return events


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_factors_separate_two_clusters() -> None:
    model = train_cf(_two_cluster_log(), TrainConfig(als=ALSParams(factors=8, iterations=10), holdout=0.0))
    f = model.factor_of()
    a = [f[f"a{i}"] for i in range(6)]
    b = [f[f"b{i}"] for i in range(6)]
    within = min(_cos(x, y) for grp in (a, b) for x in grp for y in grp)
    across = max(_cos(x, y) for x in a for y in b)
    assert within > across
    assert model.factors.dtype == np.float32 and model.factors.shape == (12, 8)
    assert model.version.startswith("cf-als-")


def test_training_is_deterministic_and_reports_holdout() -> None:
    config = TrainConfig(als=ALSParams(factors=8, iterations=5), holdout=0.2)
    m1, m2 = train_cf(_two_cluster_log(), config), train_cf(_two_cluster_log(), config)
    assert np.array_equal(m1.factors, m2.factors)
    assert m1.metrics["holdout_events"] > 0 and 0.0 <= m1.metrics["hr@10"] <= 1.0


def test_round_trip_bytes() -> None:
    model = train_cf(_two_cluster_log(), TrainConfig(als=ALSParams(factors=4, iterations=2), holdout=0.0))
    back = CFModel.from_bytes(model.to_bytes())
    assert back.item_ids == model.item_ids and np.array_equal(back.factors, model.factors)
    assert (back.version, back.regularization, back.params) == (model.version, model.regularization, model.params)
    with pytest.raises(ModelFormatError):
        CFModel.from_bytes(b"not a model")
    with pytest.raises(ModelFormatError):
        CFModel.from_bytes(model.to_bytes()[:-4])


def test_jsonl_input(tmp_path) -> None:
    import orjson
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in _two_cluster_log()))
    model = train_cf(path, TrainConfig(als=ALSParams(factors=4, iterations=2), holdout=0.0))
    assert len(model.item_ids) == 12
