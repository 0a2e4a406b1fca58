"""Contract suite every registered VectorIndex must pass (real FAISS)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from index import registry
from index.base import VectorIndex
from index.config import IndexSettings
from index.errors import DimensionMismatch, VectorIndexError

DIM = 32
CFG = IndexSettings(dim=DIM, auto_hnsw_min=300, rebuild_min_dead=50, hnsw_ef_search=64, device="cpu")


def clustered(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    """Unit vectors around 20 centres (realistic: embeddings cluster)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim))
    x = centres[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(params=registry.available())
def idx(request: pytest.FixtureRequest) -> VectorIndex:
    return registry.create(request.param, CFG)


def _fill(idx: VectorIndex, n: int = 1000, seed: int = 0) -> tuple[list[str], np.ndarray]:
    ids = [f"i{j}" for j in range(n)]
    vecs = clustered(n, seed)
    idx.upsert(ids, vecs)
    return ids, vecs


def test_is_a_vector_index(idx: VectorIndex) -> None:
    assert isinstance(idx, VectorIndex) and idx.dim == DIM and len(idx) == 0
    assert idx.search(np.ones(DIM, np.float32), 5) == []


def test_self_is_top_hit_and_recall(idx: VectorIndex) -> None:
    ids, vecs = _fill(idx)
    assert len(idx) == 1000 and "i5" in idx and "nope" not in idx
    hits = idx.search(vecs[5], 10)
    assert hits[0].item_id == "i5" and abs(hits[0].score - 1) < 1e-4
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    exact = np.argsort(-(vecs[:50] @ vecs.T), axis=1)[:, :10]
    got = idx.search_batch(vecs[:50], 10)
    recall = np.mean([len({ids[j] for j in e} & {h.item_id for h in g}) / 10 for e, g in zip(exact, got)])
    assert recall >= 0.95


def test_batch_equals_single(idx: VectorIndex) -> None:
    _, vecs = _fill(idx)
    batch = idx.search_batch(vecs[:5], 7)
    for q, hits in zip(vecs[:5], batch):
        assert [h.item_id for h in idx.search(q, 7)] == [h.item_id for h in hits]


def test_upsert_replaces_and_last_wins(idx: VectorIndex) -> None:
    _, vecs = _fill(idx)
    idx.upsert(["i1", "i1"], np.vstack([vecs[2], vecs[3]]))
    assert len(idx) == 1000
    np.testing.assert_allclose(idx.get("i1"), vecs[3], atol=1e-6)
    assert {h.item_id for h in idx.search(vecs[3], 2)} == {"i1", "i3"}
    assert all(h.item_id != "i1" or h.score < 0.999 for h in idx.search(vecs[1], 5))


def test_delete_and_compaction(idx: VectorIndex) -> None:
    ids, vecs = _fill(idx)
    assert idx.delete(["i5", "missing"]) == 1 and len(idx) == 999 and idx.get("i5") is None
    assert "i5" not in {h.item_id for h in idx.search(vecs[5], 50)}
    idx.delete(ids[100:600])  # past rebuild_dead_fraction → compacted
    assert len(idx) == 499
    for j in (0, 50, 700, 999):
        assert idx.search(vecs[j], 1)[0].item_id == ids[j]
    assert not {h.item_id for h in idx.search(vecs[300], 100)} & set(ids[100:600])
    idx.upsert(["i300"], vecs[300:301])  # re-adding a deleted id works
    assert idx.search(vecs[300], 1)[0].item_id == "i300"


def test_allow_deny_filters(idx: VectorIndex) -> None:
    ids, vecs = _fill(idx)
    deny = {h.item_id for h in idx.search(vecs[0], 20)}
    hits = idx.search(vecs[0], 10, deny=deny)
    assert len(hits) == 10 and not {h.item_id for h in hits} & deny
    allow = set(ids[500:520])
    hits = idx.search(vecs[0], 10, allow=allow)
    assert len(hits) == 10 and {h.item_id for h in hits} <= allow
    best = max(allow, key=lambda a: float(vecs[int(a[1:])] @ vecs[0]))
    assert hits[0].item_id == best
    assert idx.search(vecs[0], 5, allow={"i7"}, deny={"i7"}) == []
    assert idx.search(vecs[0], 5, allow={"nope"}) == []
    per = idx.search_batch(vecs[:2], 5, deny_per_query=[{"i0"}, {"i1"}])
    assert per[0][0].item_id != "i0" and per[1][0].item_id != "i1" and all(len(p) == 5 for p in per)


def test_errors_say_what_was_expected(idx: VectorIndex) -> None:
    with pytest.raises(DimensionMismatch, match=f"\\(n, {DIM}\\)"):
        idx.upsert(["a"], np.ones((1, DIM + 1), np.float32))
    with pytest.raises(VectorIndexError, match="NaN"):
        idx.upsert(["a"], np.full((1, DIM), np.nan, np.float32))
    with pytest.raises(VectorIndexError, match="2 ids but 1"):
        idx.upsert(["a", "b"], np.ones((1, DIM), np.float32))
    with pytest.raises(DimensionMismatch):
        idx.search(np.ones(DIM - 1, np.float32), 3)


def test_export_round_trip(idx: VectorIndex) -> None:
    ids, vecs = _fill(idx, 200)
    idx.delete(["i3"])
    out_ids, out_vecs = idx.export()
    assert len(out_ids) == 199 and "i3" not in out_ids
    order = [int(i[1:]) for i in out_ids]
    np.testing.assert_allclose(out_vecs, vecs[order], atol=1e-6)


def test_concurrent_writes_and_reads(idx: VectorIndex) -> None:
    ids, vecs = _fill(idx, 400)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                for hits in idx.search_batch(vecs[:8], 10, deny={"i1"}):
                    assert len(hits) == 10 and "i1" not in {h.item_id for h in hits}
        except BaseException as exc:  # noqa: BLE001 — surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    more = clustered(600, 9)
    for j in range(0, 600, 50):
        idx.upsert([f"n{j + r}" for r in range(50)], more[j:j + 50])
        idx.delete([f"i{100 + j // 50}"])
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(idx) == 400 + 600 - 12
