"""FaissIndex specifics: structure choice, tombstone compaction, allow-list paths."""
from __future__ import annotations

import numpy as np

from index.config import IndexSettings
from index.faiss_index import FaissIndex
from tests.unit.test_index_contract import clustered

CFG = IndexSettings(dim=32, auto_hnsw_min=300, rebuild_min_dead=50, device="cpu")


def test_auto_starts_flat_then_migrates_to_hnsw() -> None:
    idx = FaissIndex(CFG, kind="auto")
    vecs = clustered(500, 1)
    idx.upsert([f"a{i}" for i in range(299)], vecs[:299])
    assert idx.kind == "flat"
    idx.upsert([f"a{i}" for i in range(299, 500)], vecs[299:])
    assert idx.kind == "hnsw" and len(idx) == 500
    assert idx.search(vecs[10], 1)[0].item_id == "a10"


def test_tombstones_then_compaction() -> None:
    idx = FaissIndex(CFG, kind="hnsw")
    vecs = clustered(400, 2)
    ids = [f"b{i}" for i in range(400)]
    idx.upsert(ids, vecs)
    idx.delete(ids[:40])  # below rebuild_min_dead: masked only
    assert idx.stats() == {"kind": "hnsw", "gpu": False, "live": 360, "dead": 40, "ntotal": 400}
    idx.upsert(ids[50:60], vecs[50:60])  # replacing also tombstones (HNSW can't overwrite)
    assert idx.stats()["dead"] == 50 and idx.stats()["ntotal"] == 410
    idx.delete(ids[60:120])  # 110 dead > 25 % of 410 → rebuild
    assert idx.stats() == {"kind": "hnsw", "gpu": False, "live": 300, "dead": 0, "ntotal": 300}
    assert idx.search(vecs[200], 1)[0].item_id == "b200"


def test_large_allow_list_uses_selector_path() -> None:
    idx = FaissIndex(CFG, kind="hnsw", exact_allow_max=10)
    vecs = clustered(400, 3)
    ids = [f"c{i}" for i in range(400)]
    idx.upsert(ids, vecs)
    allow = set(ids[::2])
    hits = idx.search(vecs[1], 10, allow=allow, deny={"c0"})
    assert len(hits) == 10 and {h.item_id for h in hits} <= allow - {"c0"}
    exact = sorted(allow - {"c0"}, key=lambda a: -float(vecs[int(a[1:])] @ vecs[1]))[:10]
    assert len(set(exact) & {h.item_id for h in hits}) >= 9
