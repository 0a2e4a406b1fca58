"""Index benchmark: search latency p50/p99 and recall@100 vs exact, at 100k (and 1M) x 384-d.

Data: synthetic but *structured* unit vectors (1,000 clusters on a 64-d subspace plus
isotropic noise), because real embeddings are clustered and low intrinsic-dimensional;
uniform random 384-d vectors would be a worst case no catalogue looks like. Baseline in
the same run: exact flat search (faiss IndexFlatIP) on the same queries. Latency is one
query at a time through the product class (``FaissIndex.search``, ids and Hit objects
included); the bare ``faiss`` call is printed beside it.

    python benchmarks/bench_index.py --quick          # 100k only (CI-size machines)
    python benchmarks/bench_index.py                  # 100k and 1M
"""
from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from index.config import IndexSettings
from index.faiss_index import FaissIndex

DIM, K = 384, 100


def make_data(n: int, nq: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((DIM, 64)))[0].T.astype(np.float32)  # 64 x 384
    centres = rng.standard_normal((1000, 64)).astype(np.float32)

    def sample(m: int) -> np.ndarray:
        out = np.empty((m, DIM), np.float32)
        for s in range(0, m, 100_000):
            c = min(100_000, m - s)
            z = centres[rng.integers(0, 1000, c)] + 0.6 * rng.standard_normal((c, 64), dtype=np.float32)
            x = z @ basis + 0.05 * rng.standard_normal((c, DIM), dtype=np.float32)
            out[s:s + c] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    return sample(n), sample(nq)


def timed(fn, queries: np.ndarray) -> tuple[np.ndarray, list]:
    lat, res = [], []
    for q in queries:
        t = time.perf_counter()
        res.append(fn(q))
        lat.append(time.perf_counter() - t)
    return np.array(lat) * 1000, res


def pct(lat: np.ndarray) -> str:
    return f"p50 {np.percentile(lat, 50):7.3f} ms  p99 {np.percentile(lat, 99):7.3f} ms"


def run(n: int, nq: int, efs: list[int], m: int, efc: int) -> list[str]:
    lines = []
    t = time.perf_counter()
    xb, xq = make_data(n, nq)
    print(f"\n== n={n:,} dim={DIM} queries={nq} (data {time.perf_counter() - t:.1f}s)")
    flat = faiss.IndexFlatIP(DIM)
    flat.add(xb)
    lat_flat, _ = timed(lambda q: flat.search(q[None], K), xq)
    _, truth = flat.search(xq, K)
    lines.append(f"n={n:,} exact flat (baseline): {pct(lat_flat)}  recall@100 1.000")
    print(lines[-1])
    ids = [str(i) for i in range(n)]
    idx = FaissIndex(IndexSettings(dim=DIM, kind="hnsw", hnsw_m=m, hnsw_ef_construction=efc, device="cpu"))
    t = time.perf_counter()
    for s in range(0, n, 50_000):
        idx.upsert(ids[s:s + 50_000], xb[s:s + 50_000])
    build = time.perf_counter() - t
    print(f"hnsw M={m} efConstruction={efc}: built in {build:.1f}s")
    raw = idx._index  # bare faiss, for the wrapper-overhead comparison
    for ef in efs:
        idx.cfg = idx.cfg.model_copy(update={"hnsw_ef_search": ef})
        lat, res = timed(lambda q: idx.search(q, K), xq)
        got = [[int(h.item_id) for h in r] for r in res]
        recall = np.mean([len(set(g) & set(tr)) / K for g, tr in zip(got, truth)])
        params = faiss.SearchParametersHNSW(efSearch=ef)
        lat_raw, _ = timed(lambda q: raw.search(q[None], K, params=params), xq)
        lines.append(f"n={n:,} hnsw M={m} efSearch={ef}: {pct(lat)}  recall@100 {recall:.3f}  "
                     f"(bare faiss {pct(lat_raw)}; {lat_flat.mean() / lat.mean():.0f}x faster than flat; build {build:.0f}s)")
        print(lines[-1])
    if faiss.get_num_gpus() > 0:
        gidx = FaissIndex(IndexSettings(dim=DIM, kind="flat", device="cuda"))
        gidx.upsert(ids, xb)
        lat, _ = timed(lambda q: gidx.search(q, K), xq)
        lines.append(f"n={n:,} GPU flat (exact, FaissIndex): {pct(lat)}  recall@100 1.000")
        print(lines[-1])
        del gidx
    qs = xq[:min(256, nq)]
    t = time.perf_counter()
    idx.search_batch(qs, K)
    dt = time.perf_counter() - t
    lines.append(f"n={n:,} batched search: {len(qs)} queries in {dt * 1000:.1f} ms ({len(qs) / dt:,.0f} q/s)")
    print(lines[-1])
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100k only")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--ef", type=int, nargs="+", default=[100, 128, 200])
    ap.add_argument("--m", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=80)
    ap.add_argument("--threads", type=int, default=0, help="faiss OpenMP threads (0 = default)")
    a = ap.parse_args()
    if a.threads:
        faiss.omp_set_num_threads(a.threads)
    print(f"faiss {faiss.__version__}, GPUs seen: {faiss.get_num_gpus()}, omp threads {faiss.omp_get_max_threads()}")
    sizes = [100_000] if a.quick else [100_000, 1_000_000]
    for n in sizes:
        run(n, a.queries, a.ef, a.m, a.ef_construction)


if __name__ == "__main__":
    main()
