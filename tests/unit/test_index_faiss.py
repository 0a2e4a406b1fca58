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


def test_search_labels_are_search_batch_as_arrays() -> None:
    for kind in ("flat", "hnsw"):
        idx = FaissIndex(CFG, kind=kind)
        vecs = clustered(400, 4)
        ids = [f"d{i}" for i in range(400)]
        idx.upsert(ids, vecs)
        idx.delete(ids[:30])  # tombstones below rebuild_min_dead: masked, labels kept
        scores, labels = idx.search_labels(vecs[:6], 20)
        names = idx.label_ids()
        for hits, s, lab in zip(idx.search_batch(vecs[:6], 20), scores, labels):
            assert [h.item_id for h in hits] == [names[j] for j in lab]
            assert [h.score for h in hits] == s.tolist()
        scores, labels = idx.search_labels(vecs[:2], 1000)  # more than are live: all of them
        assert labels.shape == (2, 370) and (labels >= 0).all() and not set(labels[0]) & set(range(30))
        scores, labels = idx.search_labels(vecs[:3], np.array([5, 20, 5]))  # a k per query
        assert labels.shape == (3, 20) and (labels[[0, 2], 5:] == -1).all() and (labels[:, :5] >= 0).all()
        assert [names[j] for j in labels[1]] == [h.item_id for h in idx.search(vecs[1], 20)]
        gen = idx.generation
        idx.compact()
        assert idx.generation == gen + 1 and len(idx.label_ids()) == 370


def test_exact_top_k_rows_match_a_full_sort() -> None:
    from index.exact import top_k_rows
    rng = np.random.default_rng(0)
    for trial in range(60):
        m, n, k = (int(x) for x in rng.integers(1, (30, 3000, 300)))
        s = rng.standard_normal((m, n)).astype(np.float32)
        if trial % 3 == 0:
            s = np.round(s, 1)  # many ties: the lower column wins
        if trial % 4 == 0:
            s[rng.random((m, n)) < rng.random()] = -np.inf  # excluded
        tie = rng.permutation(n) if trial % 2 else None  # ties by this instead of the column
        order = np.lexsort((np.broadcast_to(np.arange(n) if tie is None else tie, s.shape), -s), axis=1)[:, :k]
        best = np.take_along_axis(s, order, 1)
        vals, cols = top_k_rows(s, k, tie)
        assert np.array_equal(vals, best) and np.array_equal(cols, np.where(best > -np.inf, order, -1))


def test_top_k_rows_floor_leaves_out_scores_at_or_below_it() -> None:
    """floor=0 over a mostly-zero array is what -inf in place of the zeros gives."""
    from index.exact import top_k_rows
    rng = np.random.default_rng(1)
    for trial in range(40):
        m, n, k = (int(x) for x in rng.integers(1, (20, 3000, 100)))
        density = rng.choice([0.002, 0.02, 0.3], size=(m, 1))  # some rows under k above 0
        s = np.where(rng.random((m, n)) < density, np.round(rng.random((m, n)), 2), 0.0)
        s[rng.random((m, n)) < 0.01] = -np.inf
        tie = rng.permutation(n) if trial % 2 else None
        want = top_k_rows(np.where(s > 0, s, -np.inf), k, tie)
        got = top_k_rows(s, k, tie, floor=0.0)
        assert all(np.array_equal(a, b) for a, b in zip(got, want)), trial


def test_flat_scores_do_not_depend_on_the_batch() -> None:
    """Bit-identical alone and in a batch (the ranker's tests compare lists exactly)."""
    for dim, n in ((16, 300), (32, 50), (64, 2000), (384, 700)):
        idx = FaissIndex(CFG, kind="flat", dim=dim)
        vecs = clustered(n, 5, dim)
        idx.upsert([f"e{i}" for i in range(n)], vecs)
        batch = idx.search_batch(vecs[:41], 30)
        assert all(idx.search(q, 30) == hits for q, hits in zip(vecs[:41], batch)), dim


def test_flat_search_follows_upserts_replacements_and_rebuilds() -> None:
    """The column copy the exact search reads stays the index's vectors: upserts in rounds
    (past the copy's spare columns), replaced ids, and a rebuild that renumbers labels."""
    rng = np.random.default_rng(5)
    idx = FaissIndex(CFG, kind="flat", dim=32, rebuild_min_dead=10, rebuild_dead_fraction=0.05)
    truth: dict[str, np.ndarray] = {}
    gen = idx.generation
    for rnd in range(6):
        ids = [f"r{rnd}-{i}" for i in range(700)] + [f"r0-{i}" for i in range(rnd * 40)]  # replacements
        vecs = rng.standard_normal((len(ids), 32)).astype(np.float32)
        idx.upsert(ids, vecs)
        truth.update(zip(ids, vecs))
        names = sorted(truth)
        mat = np.stack([truth[n] for n in names])
        q = rng.standard_normal((3, 32)).astype(np.float32)
        scores, labels = idx.search_labels(q, 25)
        label_ids = idx.label_ids()
        for row in range(3):
            best = np.argsort(-(mat @ q[row]), kind="stable")[:25]
            assert [label_ids[j] for j in labels[row]] == [names[j] for j in best]
    assert idx.generation > gen  # the replacements' tombstones forced at least one rebuild


def test_all_pair_scores_are_the_pair_scores_in_every_dimension() -> None:
    """The row-order kernel of small batches gives the by-index bits; FAISS's own code for
    a few small dimensions (2, 4, 8, 12) may not, and there the by-index kernel is used."""
    from index.exact import all_pair_scores, pair_scores
    rng = np.random.default_rng(5)
    for dim in (1, 2, 8, 12, 16, 64, 384):
        xb = rng.standard_normal((700, dim)).astype(np.float32)
        q = rng.standard_normal((3, dim)).astype(np.float32)
        want = pair_scores(q, xb, np.broadcast_to(np.arange(700), (3, 700)))
        assert np.array_equal(all_pair_scores(q, xb), want), dim


def test_exact_top_k_is_the_pair_score_top_k_at_any_batch_size() -> None:
    """Near-ties that sgemm and the pair kernel order differently (copies of a vector a few
    ulps apart: without the rounding margin this fails), exact duplicates (the lower label
    wins), dead vectors and a k per query: the sgemm-screened path of big batches and the
    direct path of small ones both give the top-k of a brute-force pair-score sort, bit for bit."""
    from index.exact import DIRECT_ROWS, exact_top_k, pair_scores
    rng = np.random.default_rng(11)
    for rnd, (eps, dim, n) in enumerate([(1e-6, 384, 3000), (1e-6, 64, 5000), (1e-6, 16, 200),
                                         (1e-7, 384, 3000), (1e-7, 64, 5000)]):
        base = rng.standard_normal((n // 10, dim)).astype(np.float32)
        xb = np.repeat(base, 10, axis=0) * (1 + rng.standard_normal((n, 1)) * eps).astype(np.float32)
        xb = np.ascontiguousarray(xb, np.float32)
        queries = np.vstack([base[:30], rng.standard_normal((30, dim))]).astype(np.float32)
        ks = rng.integers(1, 300, size=len(queries))
        live = None
        if rnd >= 2:
            xb[::7] = xb[3]  # exact duplicates of one vector
            live = rng.random(n) > 0.05
        every = pair_scores(queries, xb, np.broadcast_to(np.arange(n), (len(queries), n)))
        if live is not None:
            every[:, ~live] = -np.inf
        for m in (len(queries), DIRECT_ROWS, DIRECT_ROWS - 1, 1):
            vals, cols = exact_top_k(queries[:m], xb, np.ascontiguousarray(xb.T), ks[:m], live)
            for i in range(m):
                order = np.lexsort((np.arange(n), -every[i]))[: ks[i]]
                order = order[every[i, order] > -np.inf]  # fewer live than k: -1 padded
                assert np.array_equal(cols[i, : order.size], order), (rnd, m, i)
                assert np.array_equal(vals[i, : order.size], every[i, order]), (rnd, m, i)
                assert (cols[i, order.size:] == -1).all()
