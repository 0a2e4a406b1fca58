"""FAISS implementation of :class:`~index.base.VectorIndex`.

Layout: FAISS holds vectors at sequential labels 0..ntotal-1 (that is how
``IndexFlatIP`` and ``IndexHNSWFlat`` number them), and this class keeps the
string-id ↔ label maps plus an ``alive`` mask. HNSW cannot remove vectors, so delete
and replace work the same way for every structure: the old label is tombstoned
(masked out of searches with an ``IDSelectorBitmap``, or filtered after an over-fetch
on GPU indexes, which take no selectors) and :meth:`compact` rebuilds from the live
vectors once tombstones pass ``rebuild_dead_fraction``. The rebuild runs under the
lock, so a big HNSW rebuild pauses readers; it is rare by construction.

Structure: ``flat`` is exact; ``hnsw`` is approximate and fast at scale; ``auto``
starts flat and migrates to HNSW once ``auto_hnsw_min`` vectors are live. With a GPU
(``faiss.get_num_gpus() > 0``) ``auto``/``flat`` use a GPU flat index: brute force
on a GPU beats CPU HNSW well into the millions and stays exact.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Sequence

import faiss
import numpy as np

from index.base import Hit
from index.config import IndexSettings
from index.errors import DimensionMismatch, VectorIndexError

log = logging.getLogger(__name__)
GPU_MAX_K = 2048  # faiss GPU indexes return at most this many neighbours per query


class FaissIndex:
    """Thread-safe (one lock) inner-product index with string ids and tombstones."""

    def __init__(self, cfg: IndexSettings | None = None, **overrides: object) -> None:
        cfg = cfg or IndexSettings()
        self.cfg = cfg.model_copy(update=overrides) if overrides else cfg
        self.dim = self.cfg.dim
        self.use_gpu = self.cfg.device != "cpu" and faiss.get_num_gpus() > 0
        if self.cfg.device == "cuda" and not self.use_gpu:
            raise VectorIndexError("index device 'cuda' requested but faiss sees no GPU")
        self._lock = threading.RLock()
        self._gpu_res = faiss.StandardGpuResources() if self.use_gpu else None
        self._reset(self._initial_kind())

    # --- structure ---------------------------------------------------------------------
    def _initial_kind(self) -> str:
        return "hnsw" if self.cfg.kind == "hnsw" else "flat"

    def _new_faiss(self, kind: str) -> faiss.Index:
        if kind == "hnsw":
            idx = faiss.IndexHNSWFlat(self.dim, self.cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            idx.hnsw.efConstruction = self.cfg.hnsw_ef_construction
            return idx
        idx = faiss.IndexFlatIP(self.dim)
        return faiss.index_cpu_to_gpu(self._gpu_res, 0, idx) if self.use_gpu else idx

    def _reset(self, kind: str) -> None:
        self.kind = kind
        self._index = self._new_faiss(kind)
        self._ids: list[str] = []                     # label -> id
        self._label: dict[str, int] = {}              # id -> live label
        self._alive = np.zeros(0, dtype=bool)
        self._bitmap: np.ndarray | None = None        # packed alive mask cache
        self._selectors = kind == "hnsw" or not self.use_gpu

    @property
    def dead(self) -> int:
        return len(self._ids) - len(self._label)

    def __len__(self) -> int:
        return len(self._label)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._label

    def stats(self) -> dict[str, object]:
        with self._lock:
            return {"kind": self.kind, "gpu": self.use_gpu, "live": len(self), "dead": self.dead,
                    "ntotal": int(self._index.ntotal)}

    # --- writes ------------------------------------------------------------------------
    def _check(self, x: np.ndarray, what: str) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise DimensionMismatch(f"{what}: expected shape (n, {self.dim}), got {x.shape}")
        if not np.isfinite(x).all():
            raise VectorIndexError(f"{what}: vectors contain NaN or inf")
        return x

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        vectors = self._check(vectors, "upsert")
        if len(ids) != len(vectors):
            raise VectorIndexError(f"upsert: {len(ids)} ids but {len(vectors)} vectors")
        last = {item_id: i for i, item_id in enumerate(ids)}  # last occurrence wins
        rows = sorted(last.values())
        with self._lock:
            self._tombstone(ids[i] for i in rows)
            base = len(self._ids)
            self._index.add(vectors[rows])
            for j, i in enumerate(rows):
                self._ids.append(ids[i])
                self._label[ids[i]] = base + j
            self._alive = np.concatenate([self._alive, np.ones(len(rows), dtype=bool)])
            self._bitmap = None
            self._maybe_restructure()

    def delete(self, ids: Sequence[str]) -> int:
        with self._lock:
            n = self._tombstone(ids)
            self._maybe_restructure()
            return n

    def _tombstone(self, ids: Iterable[str]) -> int:
        n = 0
        for item_id in ids:
            label = self._label.pop(item_id, None)
            if label is not None:
                self._alive[label] = False
                n += 1
        if n:
            self._bitmap = None
        return n

    def _maybe_restructure(self) -> None:
        if (self.cfg.kind == "auto" and self.kind == "flat" and not self.use_gpu
                and len(self) >= self.cfg.auto_hnsw_min):
            log.info("index: %d live vectors >= %d, migrating flat -> hnsw", len(self), self.cfg.auto_hnsw_min)
            self.compact(kind="hnsw")
        elif self.dead >= self.cfg.rebuild_min_dead and self.dead > self.cfg.rebuild_dead_fraction * len(self._ids):
            self.compact()

    def compact(self, kind: str | None = None) -> None:
        """Rebuild from live vectors only (drops tombstones; optionally change structure)."""
        with self._lock:
            ids, vecs = self.export()
            log.info("index: rebuilding %s with %d live vectors (%d tombstones dropped)",
                     kind or self.kind, len(ids), self.dead)
            self._reset(kind or self.kind)
            if ids:
                self.upsert(ids, vecs)

    # --- reads -------------------------------------------------------------------------
    def get(self, item_id: str) -> np.ndarray | None:
        with self._lock:
            label = self._label.get(item_id)
            return None if label is None else self._index.reconstruct(label)

    def export(self) -> tuple[list[str], np.ndarray]:
        with self._lock:
            labels = np.flatnonzero(self._alive)
            if len(labels) == 0:
                return [], np.zeros((0, self.dim), np.float32)
            vecs = self._index.reconstruct_n(0, self._index.ntotal)[labels]
            return [self._ids[i] for i in labels], np.ascontiguousarray(vecs)

    def search(self, query: np.ndarray, k: int, allow: Collection[str] | None = None,
               deny: Collection[str] | None = None) -> list[Hit]:
        return self.search_batch(np.asarray(query, np.float32).reshape(1, -1), k, allow, deny)[0]

    def search_batch(self, queries: np.ndarray, k: int, allow: Collection[str] | None = None,
                     deny: Collection[str] | None = None,
                     deny_per_query: Sequence[Collection[str]] | None = None) -> list[list[Hit]]:
        queries = self._check(queries, "search")
        if k <= 0:
            raise VectorIndexError(f"search: k must be >= 1, got {k}")
        if deny_per_query is not None and len(deny_per_query) != len(queries):
            raise VectorIndexError(f"search: {len(deny_per_query)} deny lists for {len(queries)} queries")
        with self._lock:
            if not self._label:
                return [[] for _ in queries]
            if allow is not None:
                labels = np.array(sorted(self._label[a] for a in allow if a in self._label), dtype=np.int64)
                if len(labels) <= self.cfg.exact_allow_max:
                    return self._exact_subset(queries, k, labels, deny, deny_per_query)
            extra = max((len(d) for d in deny_per_query), default=0) if deny_per_query else 0
            scores, labels_out = self._ann(queries, k + extra, allow, deny)
            return self._to_hits(scores, labels_out, k, deny, deny_per_query)

    def _exact_subset(self, queries: np.ndarray, k: int, labels: np.ndarray, deny: Collection[str] | None,
                      deny_per_query: Sequence[Collection[str]] | None) -> list[list[Hit]]:
        """Small allow-lists: score exactly (any structure, CPU or GPU)."""
        if len(labels) == 0:
            return [[] for _ in queries]
        vecs = self._index.reconstruct_batch(labels)
        scores = queries @ vecs.T
        order = np.argsort(-scores, axis=1, kind="stable")
        return self._to_hits(np.take_along_axis(scores, order, 1), labels[order], k, deny, deny_per_query)

    def _ann(self, queries: np.ndarray, fetch: int, allow: Collection[str] | None,
             deny: Collection[str] | None) -> tuple[np.ndarray, np.ndarray]:
        ntotal = int(self._index.ntotal)
        need_filter = self.dead > 0 or bool(deny) or allow is not None
        if not self._selectors:  # GPU flat: over-fetch, filter in _to_hits
            fetch += self.dead + (len(deny) if deny else 0)
            if allow is not None:
                fetch = ntotal
            return self._index.search(queries, min(fetch, ntotal, GPU_MAX_K))
        params = faiss.SearchParametersHNSW() if self.kind == "hnsw" else faiss.SearchParameters()
        if self.kind == "hnsw":
            params.efSearch = max(self.cfg.hnsw_ef_search, fetch)
        bitmap = None
        if need_filter:
            bitmap = self._filter_bitmap(allow, deny)
            params.sel = faiss.IDSelectorBitmap(ntotal, faiss.swig_ptr(bitmap))
        return self._index.search(queries, min(fetch, ntotal), params=params)

    def _filter_bitmap(self, allow: Collection[str] | None, deny: Collection[str] | None) -> np.ndarray:
        if allow is not None:
            mask = np.zeros(len(self._ids), dtype=bool)
            mask[[self._label[a] for a in allow if a in self._label]] = True
            bitmap = np.packbits(mask, bitorder="little")
        else:
            if self._bitmap is None:
                self._bitmap = np.packbits(self._alive, bitorder="little")
            bitmap = self._bitmap.copy()
        denied = np.array([self._label[d] for d in (deny or ()) if d in self._label], dtype=np.int64)
        if len(denied):
            np.bitwise_and.at(bitmap, denied >> 3, ~(1 << (denied & 7)).astype(np.uint8))
        return bitmap

    def _to_hits(self, scores: np.ndarray, labels: np.ndarray, k: int, deny: Collection[str] | None,
                 deny_per_query: Sequence[Collection[str]] | None) -> list[list[Hit]]:
        out: list[list[Hit]] = []
        for q in range(len(labels)):
            extra = deny_per_query[q] if deny_per_query else ()
            hits: list[Hit] = []
            for s, lab in zip(scores[q], labels[q]):
                if lab < 0 or not self._alive[lab]:
                    continue
                item_id = self._ids[lab]
                if (deny and item_id in deny) or item_id in extra:
                    continue
                hits.append(Hit(item_id, float(s)))
                if len(hits) == k:
                    break
            out.append(hits)
        return out
