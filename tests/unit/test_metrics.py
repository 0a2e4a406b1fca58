"""Metric functions against hand-computed values."""

import math

import numpy as np
import pytest

from streams.eval.metrics import MetricTotals, hit_at, hit_credit, ndcg_at, rank_in, top_k, windowed


def test_hit_and_ndcg_by_rank() -> None:
    assert hit_at(0, 10) == 1.0 and hit_at(9, 10) == 1.0
    assert hit_at(10, 10) == 0.0 and hit_at(None, 10) == 0.0
    assert ndcg_at(0, 10) == 1.0
    assert ndcg_at(1, 10) == pytest.approx(1 / math.log2(3))  # 0.6309
    assert ndcg_at(9, 10) == pytest.approx(1 / math.log2(11))  # 0.2891
    assert ndcg_at(10, 10) == 0.0 and ndcg_at(10, 20) == pytest.approx(1 / math.log2(12))


def test_top_k_breaks_ties_by_smaller_index_and_respects_candidates() -> None:
    scores = np.array([1.0, 3.0, 3.0, 2.0, 3.0])
    cand = np.array([True, True, False, True, True])
    assert top_k(scores, cand, 2).tolist() == [1, 4]
    assert top_k(scores, cand, 3).tolist() == [1, 4, 3]
    assert top_k(scores, cand, 10).tolist() == [1, 4, 3, 0]
    # every item tied: ordering is by index even across the argpartition cut
    assert top_k(np.zeros(6), np.ones(6, bool), 3).tolist() == [0, 1, 2]
    assert top_k(scores, np.zeros(5, bool), 3).tolist() == []


def test_rank_in() -> None:
    assert rank_in(np.array([7, 3, 5]), 5) == 2
    assert rank_in(np.array([7, 3, 5]), 4) is None


def test_hit_credit_splits_by_positive_contribution() -> None:
    assert hit_credit({"knn": 0.3, "cf": 0.1, "popular": 0.0}) == pytest.approx({"knn": 0.75, "cf": 0.25})
    assert hit_credit({"knn": 0.0}) == {}


def test_totals_summary() -> None:
    totals = MetricTotals(catalogue_size=40)
    totals.add(np.arange(20), 0, {"a": 1.0})  # rank 0: hit@10 and @20
    totals.add(np.arange(20), 15, {"a": 1.0})  # rank 15: hit@20 only, no credit
    totals.add(np.arange(20, 40), 23, {"a": 1.0, "b": 3.0})  # rank 3
    totals.add(np.arange(20), 99)  # miss
    s = totals.summary()
    assert s["scored"] == 4
    assert s["hr@10"] == pytest.approx(2 / 4)
    assert s["hr@20"] == pytest.approx(3 / 4)
    assert s["ndcg@10"] == pytest.approx((1 + 1 / math.log2(5)) / 4)
    assert s["ndcg@20"] == pytest.approx((1 + 1 / math.log2(17) + 1 / math.log2(5)) / 4)
    assert s["coverage@10"] == pytest.approx(20 / 40)  # items 0-9 and 20-29
    assert totals.source_share() == pytest.approx({"a": (1 + 0.25) / 2, "b": 0.75 / 2})
    assert totals.hit_trace == [1.0, 0.0, 1.0, 0.0]


def test_windowed_includes_partial_window() -> None:
    assert windowed([1, 0, 1, 1, 0], 2) == [0.5, 1.0, 0.0]
