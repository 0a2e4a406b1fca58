"""Exact batched inner-product top-k for CPU flat indexes.

Every score a search returns is FAISS's per-pair SIMD inner product (:func:`pair_scores`:
``fvec_inner_products_by_idx``, one vector pair at a time), which depends on the two
vectors only: a query scores the same alone or in any batch, and rescoring an item of a
fused pool gives the bits its search gave. Which vectors make a query's top-k is found
the cheapest way for the batch:

- a few queries: every vector's pair score, read in row order (:func:`all_pair_scores`,
  ~0.3 ms a query at 10k x 384 in cache, ~0.8 ms from memory). OpenBLAS's sgemm packs
  the whole item matrix on every call, ~3 ms at 10k x 384 however few the query rows,
  which made one-user ranking batches cost ten times their product;
- more: one sgemm per chunk of queries gives approximate scores, a per-row threshold
  from block maxima keeps a superset of the k best, widened by the rounding error either
  product can have (:func:`error_margin`), and only those few are scored pair by pair.

The selection is vectorised over the whole batch (FAISS's own flat search spent ~70 ms of
a 256-query batch at k=128 in its per-query heap, against ~25 ms of sgemm). Ties go to
the lower label.
"""
from __future__ import annotations

import functools

import faiss
import numpy as np

CHUNK_FLOATS = 1 << 24  # approximate score matrix per chunk of queries: 64 MiB of float32
DIRECT_ROWS = 8  # fewer queries than this: pair scores of every vector, no sgemm
UNIT_ROUNDOFF = 2.0 ** -24  # float32


def pair_scores(queries: np.ndarray, xb: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``queries[i] · xb[ids[i, j]]`` as float32 [m, c], one pair at a time (-inf where
    ``ids`` is negative). ``queries`` [m, d] and ``xb`` [n, d] are C-contiguous float32."""
    m, c = ids.shape
    out = np.empty((m, c), np.float32)
    if out.size:
        queries = np.ascontiguousarray(queries, np.float32)
        ids = np.ascontiguousarray(ids, np.int64)
        faiss.fvec_inner_products_by_idx(faiss.swig_ptr(out), faiss.swig_ptr(queries), faiss.swig_ptr(xb),
                                         faiss.swig_ptr(ids), xb.shape[1], m, c)
    return out


@functools.lru_cache(maxsize=None)
def _rows_kernel_matches(d: int) -> bool:
    """Whether FAISS's contiguous kernel (``fvec_inner_products_ny``) gives the bits of
    :func:`pair_scores` at dimension ``d``: it does where both call the one per-pair
    routine. FAISS has its own code for d = 2, 4, 8, 12, whose sums round differently
    now and then (at d = 2 a 64-vector check happened to pass): those are ruled out, and
    any other ``d`` is checked once rather than assumed."""
    if d in (2, 4, 8, 12):
        return False
    rng = np.random.default_rng(d)
    xb = rng.standard_normal((1024, d)).astype(np.float32)
    q = rng.standard_normal((4, d)).astype(np.float32)
    return np.array_equal(_contiguous_scores(q, xb), _indexed_scores(q, xb))


def _indexed_scores(queries: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """:func:`pair_scores` of every query with every row of ``xb``, by index."""
    n = xb.shape[0]
    return pair_scores(queries, xb, np.broadcast_to(np.arange(n, dtype=np.int64), (len(queries), n)))


def _contiguous_scores(queries: np.ndarray, xb: np.ndarray) -> np.ndarray:
    out = np.empty((len(queries), xb.shape[0]), np.float32)
    for i in range(len(queries)):
        faiss.fvec_inner_products_ny(faiss.swig_ptr(out[i]), faiss.swig_ptr(queries[i]), faiss.swig_ptr(xb),
                                     xb.shape[1], xb.shape[0])
    return out


def all_pair_scores(queries: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """:func:`pair_scores` of every query with every row of ``xb`` [m, n]: the same bits,
    read in row order (FAISS's contiguous kernel where it matches: ~2x faster than by index
    with the matrix in cache, ~15-25 % from memory)."""
    queries = np.ascontiguousarray(queries, np.float32)
    if _rows_kernel_matches(xb.shape[1]):
        return _contiguous_scores(queries, xb)
    return _indexed_scores(queries, xb)


def largest_norm(xb: np.ndarray) -> float:
    """The largest row norm of ``xb`` (summed in float64), which :func:`error_margin` needs."""
    return float(np.sqrt(np.einsum("ij,ij->i", xb, xb, dtype=np.float64).max()))


def error_margin(queries: np.ndarray, max_norm: float) -> np.ndarray:
    """Per query, how far its approximate (sgemm) score of a vector may sit from the pair
    score and still matter: 4 x the float32 error bound of a d-term dot product,
    γ_d·‖q‖·‖x‖ (γ_d = d·u / (1 - d·u); any summation order, with or without FMA).

    Both scores lie within γ_d·‖q‖·‖x‖ of the true product, so they differ by at most
    twice that, and every vector of the pair-score top-k has an approximate score within
    four times that of the approximate k-th best.
    """
    d = queries.shape[1]
    gamma = d * UNIT_ROUNDOFF / (1 - d * UNIT_ROUNDOFF)
    norms = np.linalg.norm(queries.astype(np.float64), axis=1)
    return 4.0 * gamma * norms * max_norm * 1.01 + 1e-30  # 1 %: the bound's own rounding


def top_k_rows(scores: np.ndarray, k: int, tie: np.ndarray | None = None,
               floor: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``scores`` the k best (values, columns) above ``floor``, best first
    (scores at or below it, and -inf, are excluded: a floor of 0 spares the caller a masked
    copy of a mostly-zero array).

    Ties go to the lower ``tie`` (one per column, or per cell) and then the lower column; a row
    with fewer than k scores above the floor is padded with column -1 and value -inf.
    ``scores`` is not modified.
    """
    m, n = scores.shape
    k = min(k, n)
    if m == 0 or k <= 0:
        return np.full((m, max(k, 0)), -np.inf, scores.dtype), np.full((m, max(k, 0)), -1, np.int64)
    r, c = _candidates(scores, k, floor=floor)
    where = side_by_side(m, r, c)
    return _best(np.where(where >= 0, scores[np.arange(m)[:, None], where], -np.inf).astype(scores.dtype),
                 where, k, tie)


def side_by_side(m: int, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Each row's candidate columns (row-major ``(r, c)`` pairs) side by side, -1 padded."""
    counts = np.bincount(r, minlength=m)
    where = np.full((m, int(counts.max(initial=0))), -1, np.int64)
    where[r, np.arange(r.size) - (np.cumsum(counts) - counts)[r]] = c
    return where


def _best(cand: np.ndarray, where: np.ndarray, k: int, tie: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The k best of each row's candidates (``cand`` scores at columns ``where``, -1/-inf
    padded, columns ascending): score desc, then ``tie``, then column."""
    m = cand.shape[0]
    vals = np.full((m, k), -np.inf, cand.dtype)
    cols = np.full((m, k), -1, np.int64)
    if cand.shape[1] == 0:
        return vals, cols
    # stable, so remaining ties keep column order (-inf padding last)
    if tie is None:
        order = np.argsort(-cand, axis=1, kind="stable")[:, :k]
    else:
        ties = tie[where] if tie.ndim == 1 else np.take_along_axis(tie, np.maximum(where, 0), 1)
        order = np.lexsort((ties, -cand), axis=1)[:, :k]
    w = order.shape[1]
    vals[:, :w] = np.take_along_axis(cand, order, 1)
    cols[:, :w] = np.where(vals[:, :w] > -np.inf, np.take_along_axis(where, order, 1), -1)
    return vals, cols


def _candidates(scores: np.ndarray, k: int, margin: np.ndarray | None = None,
                floor: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) in row-major order of a superset of every row's k best above
    ``floor``, and of everything within ``margin`` (one per row) below them.

    Blocks are strided (column j in block j mod 4k), so their maxima reduce along
    contiguous memory; flat indices beat 2-D ``nonzero`` several times over.
    """
    m, n = scores.shape
    blocks = 4 * k
    if blocks * 4 > n:  # few columns per block: the threshold would save little
        keep = scores > floor
    else:
        full = n // blocks * blocks
        best = scores[:, :full].reshape(m, -1, blocks).max(axis=1)
        if full < n:
            best = np.concatenate([best, scores[:, full:].max(axis=1, keepdims=True)], axis=1)
        cut = np.partition(best, best.shape[1] - k, axis=1)[:, best.shape[1] - k]
        if margin is not None:  # lowered in float64, then rounded down to a float32 threshold
            cut = np.nextafter((cut - margin).astype(scores.dtype), -np.inf)
        # a row with under k scores above the floor: none at or below it (one pass, not two)
        keep = scores >= np.maximum(cut, np.nextafter(np.asarray(floor, scores.dtype), np.inf))[:, None]
    return np.divmod(np.flatnonzero(keep), n)


def exact_top_k(queries: np.ndarray, xb: np.ndarray, xt: np.ndarray, k: int | np.ndarray,
                live: np.ndarray | None = None, max_norm: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The best vectors by pair score (:func:`pair_scores`) per query, over the ``live``
    ones only. ``xb`` [n, dim] holds them as rows, ``xt`` [dim, n] the same as columns
    (the sgemm of a big batch reads those); ``max_norm`` bounds their norms (computed when
    not given).

    ``k`` is one count or one per query (then row i is -1 padded past its own k): the
    queries are scored in k order, so each k's rows are one slice of the score matrix.
    Returns (scores float32, columns int64), both [n, min(max k, number of vectors)].
    """
    queries = np.ascontiguousarray(queries, np.float32)
    n, size = len(queries), xb.shape[0]
    ks = np.minimum(np.broadcast_to(np.asarray(k, np.int64), (n,)), size)
    width = int(ks.max()) if n else 0
    vals = np.full((n, width), -np.inf, np.float32)
    cols = np.full((n, width), -1, np.int64)
    if not width:
        return vals, cols
    dead = np.flatnonzero(~live) if live is not None else np.zeros(0, np.int64)
    order = np.argsort(ks, kind="stable")
    direct = n < DIRECT_ROWS
    if not direct and max_norm is None:
        max_norm = largest_norm(xb)
    step = n if direct else max(DIRECT_ROWS, CHUNK_FLOATS // max(size, 1))
    for at in range(0, n, step):
        rows = order[at:at + step]
        q = queries[rows]
        if direct:
            s = all_pair_scores(q, xb)
        else:
            s = q @ xt
        if dead.size:
            s[:, dead] = -np.inf
        rk = ks[rows]
        edges = [0, *(np.flatnonzero(np.diff(rk)) + 1).tolist(), len(rows)]
        for lo, hi in zip(edges, edges[1:]):
            kk = int(rk[lo])
            if direct:
                v, c = top_k_rows(s[lo:hi], kk)
            else:
                r, c = _candidates(s[lo:hi], kk, error_margin(q[lo:hi], max_norm))
                where = side_by_side(hi - lo, r, c)
                v, c = _best(pair_scores(q[lo:hi], xb, where), where, kk, None)
            vals[rows[lo:hi], : v.shape[1]] = v
            cols[rows[lo:hi], : c.shape[1]] = c
    return vals, cols
