"""Exact batched inner-product top-k in numpy, for CPU flat indexes.

FAISS's flat search spends most of a ranking batch's time in its per-query heap (a
256-query batch at k=128 over 10k items: ~25 ms of sgemm, ~70 ms of heap), not in the
product. Here the product is one sgemm per chunk of queries and the selection is
vectorised over the whole batch: a per-row threshold from block maxima (the k-th best
block maximum has at least k scores at or above it, so nothing better is lost), then
one sort of the few survivors. Results are exact; ties go to the lower label.
"""
from __future__ import annotations

import numpy as np

CHUNK_FLOATS = 1 << 24  # score matrix per chunk of queries: 64 MiB of float32
ROW_BLOCK = 8  # queries per product, padded up to a multiple of this (see inner_products)
SMALL_BLOCK, SMALL_INDEX = 32, 1 << 16  # tiny indexes (items x dim below this) pad to 32


def inner_products(queries: np.ndarray, xt: np.ndarray) -> np.ndarray:
    """``queries @ xt`` (float32; ``xt`` holds the vectors as columns, [dim, n]), each row
    rounded the same whatever else is in the batch.

    Columns, not rows: for the few query rows a ranking batch has, OpenBLAS's plain
    (non-transposed) kernel ran 1.5-2.6x faster than the same product against row vectors
    (``queries @ xb.T``: 8 x 384 by 10,000 took 5.5-5.8 ms, 3.2-3.4 ms this way; bit-identical).

    OpenBLAS picks its kernels by shape (a one-row product even goes to gemv), and the
    kernels sum in different orders, so the last bits of a score could depend on the
    batch. Padded to a multiple of 8 query rows every row came out bit-identical at every
    batch size tried from 64 x 1,000 to 384 x 50,000 (tests/unit/test_index_faiss.py keeps
    checking).
    8, not 32: the ranking agent's batches are a few users when it keeps up, and the
    padding rows cost as much as real ones (32 made a 4-user batch ~3.4 ms at 10k x 384).
    Tiny indexes (e.g. 50 x 32) take OpenBLAS's small-matrix path, consistent only at 32.
    """
    m = len(queries)
    pad = -m % (ROW_BLOCK if xt.size >= SMALL_INDEX else SMALL_BLOCK)
    if pad:
        queries = np.vstack([queries, np.zeros((pad, queries.shape[1]), queries.dtype)])
    return (queries @ xt)[:m]


def top_k_rows(scores: np.ndarray, k: int, tie: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``scores`` (-inf: excluded) the k best (values, columns), best first.

    Ties go to the lower ``tie`` (one per column, or per cell) and then the lower column; a row
    with fewer than k finite scores is padded with column -1 and value -inf.
    ``scores`` is not modified.
    """
    m, n = scores.shape
    k = min(k, n)
    vals = np.full((m, k), -np.inf, scores.dtype)
    cols = np.full((m, k), -1, np.int64)
    if m == 0 or k <= 0:
        return vals, cols
    r, c = _candidates(scores, k)
    if r.size == 0:
        return vals, cols
    # each row's candidates side by side (-inf padded), then one small sort per row
    counts = np.bincount(r, minlength=m)
    at = np.arange(r.size) - (np.cumsum(counts) - counts)[r]
    cand = np.full((m, int(counts.max())), -np.inf, scores.dtype)
    where = np.full(cand.shape, -1, np.int64)
    cand[r, at], where[r, at] = scores[r, c], c
    # score desc, then tie; stable, so remaining ties keep column order (-inf padding last)
    if tie is None:
        order = np.argsort(-cand, axis=1, kind="stable")[:, :k]
    else:
        ties = tie[where] if tie.ndim == 1 else np.take_along_axis(tie, np.maximum(where, 0), 1)
        order = np.lexsort((ties, -cand), axis=1)[:, :k]
    w = order.shape[1]
    vals[:, :w], cols[:, :w] = np.take_along_axis(cand, order, 1), np.take_along_axis(where, order, 1)
    return vals, cols


def _candidates(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) in row-major order of a superset of every row's k best.

    Blocks are strided (column j in block j mod 4k), so their maxima reduce along
    contiguous memory; flat indices beat 2-D ``nonzero`` several times over.
    """
    m, n = scores.shape
    blocks = 4 * k
    if blocks * 4 > n:  # few columns per block: the threshold would save little
        keep = scores > -np.inf
    else:
        full = n // blocks * blocks
        best = scores[:, :full].reshape(m, -1, blocks).max(axis=1)
        if full < n:
            best = np.concatenate([best, scores[:, full:].max(axis=1, keepdims=True)], axis=1)
        cut = np.partition(best, best.shape[1] - k, axis=1)[:, best.shape[1] - k]
        keep = scores >= cut[:, None]
        if (cut == -np.inf).any():  # a row with under k scores: not its -infs
            keep &= scores > -np.inf
    return np.divmod(np.flatnonzero(keep), n)


def exact_top_k(queries: np.ndarray, xt: np.ndarray, k: int | np.ndarray,
                live: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The best columns of ``xt`` ([dim, n]: one vector per column) by inner product per
    query, over the ``live`` columns only.

    ``k`` is one count or one per query (then row i is -1 padded past its own k): the
    queries are scored in k order, so each k's rows are one slice of the score matrix.
    Returns (scores float32, columns int64), both [n, min(max k, number of vectors)].
    """
    n, size = len(queries), xt.shape[1]
    ks = np.minimum(np.broadcast_to(np.asarray(k, np.int64), (n,)), size)
    width = int(ks.max()) if n else 0
    vals = np.full((n, width), -np.inf, np.float32)
    cols = np.full((n, width), -1, np.int64)
    dead = np.flatnonzero(~live) if live is not None else np.zeros(0, np.int64)
    order = np.argsort(ks, kind="stable")
    step = max(ROW_BLOCK, CHUNK_FLOATS // max(size, 1) // ROW_BLOCK * ROW_BLOCK)
    for at in range(0, n, step):
        rows = order[at:at + step]
        s = inner_products(queries[rows], xt)
        if dead.size:
            s[:, dead] = -np.inf
        rk = ks[rows]
        edges = [0, *(np.flatnonzero(np.diff(rk)) + 1).tolist(), len(rows)]
        for lo, hi in zip(edges, edges[1:]):
            v, c = top_k_rows(s[lo:hi], int(rk[lo]))
            vals[rows[lo:hi], : v.shape[1]] = v
            cols[rows[lo:hi], : c.shape[1]] = c
    return vals, cols
