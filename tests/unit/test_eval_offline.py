"""The offline evaluator of the product on a tiny replay, and the one-pass weight grid."""

import math

import numpy as np
import pytest

from streams.data.movielens import Ratings
from streams.eval.product import FlatIndex, ProductReplay
from streams.eval.protocol import Split, events_from_ratings, replay
from streams.eval.report import Report, table_markdown, write_report
from streams.eval.tuning import FusionGrid, fused_ranks, weight_grid


def _tiny():
    rows = [
        (0, 10, 5), (0, 20, 5), (1, 10, 5), (3, 10, 3),  # warm-up: item 10 is the most rated
        (1, 20, 4),  # user 1 liked 10; 10 and 20 co-occur (user 0) -> session proposes 20: hit at 0
        (2, 40, 5),  # 40 never seen before: miss
        (2, 10, 4),  # 40 has no neighbours -> popular fallback ranks 10 (3 events) over 20: hit at 0
    ]
    u, i, v = (np.array(c) for c in zip(*rows))
    ratings = Ratings(u.astype(np.int64), i.astype(np.int64), v.astype(np.float32),
                      np.arange(len(rows), dtype=np.int64))
    events = events_from_ratings(ratings, [10, 20, 30, 40])
    items = [{"item_id": str(i), "title": str(i), "text": "", "tags": []} for i in (10, 20, 30, 40)]
    vectors = np.eye(4, 8, dtype=np.float32)
    return events, items, vectors


def test_product_replay_known_answer() -> None:
    events, items, vectors = _tiny()
    product = ProductReplay(events, items, {"session": 1.0}, vectors=vectors)
    totals = replay(events, {"product": product}, Split(4, 7))["product"]
    s = totals.summary()
    assert s["scored"] == 3
    assert s["hr@10"] == pytest.approx(2 / 3)
    assert s["ndcg@10"] == pytest.approx(2 / 3)
    # hit 1: session 1.0 + popular fallback 0.01 (the only candidate); hit 2: popular only
    assert totals.source_share() == pytest.approx({"session": (1 / 1.01) / 2, "popular": (1 + 0.01 / 1.01) / 2})
    assert product.refits == 1


def test_flat_index_ties_by_hash_and_allow() -> None:
    index = FlatIndex(["a", "b", "c"], np.array([[1.0, 0], [1.0, 0], [0, 1.0]]))
    hits = index.search(np.array([1.0, 0.0]), 3)[0]
    assert [s for _, s in hits] == [1.0, 1.0, 0.0] and {i for i, _ in hits[:2]} == {"a", "b"}
    assert index.search(np.array([0.0, 1.0]), 5, allow=["a", "c"])[0] == [("c", 1.0), ("a", 0.0)]


def test_fused_ranks_by_hand() -> None:
    matrix = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 1.0]])  # 2 sources x 3 pool items
    hashes = np.array([5, 1, 3], dtype=np.uint32)
    grid = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    # item 2: fused (0, 1, 1) vs items 0 (1, 1, 0), 1 (.5, 1.5, 1)
    # row 0: 0 and 1 ahead -> 2; row 1: 1 ahead, item 0 ties at 1 with larger hash -> 1
    # row 2: item 1 ties at 1 with smaller hash -> 1
    assert fused_ranks(matrix, hashes, grid, 2).tolist() == [2, 1, 1]


def test_grid_matches_product_on_tiny_replay() -> None:
    events, items, vectors = _tiny()
    product = ProductReplay(events, items, {"session": 1.0, "cf": 1.0}, vectors=vectors)
    grid = FusionGrid(product, weight_grid(levels=(0.0, 0.5)))
    replay(events, {"grid": grid}, Split(4, 7))
    assert grid.scored == 3 and len(grid.grid) == 8
    results = grid.results()
    assert all(0 <= hr <= 1 for _, hr in results)
    assert sum(results[0][0].values()) == pytest.approx(1.0)


def test_report_files(tmp_path) -> None:
    report = Report(split="test", scored=4, rows={"a": {"hr@10": 0.5, "ndcg@10": 0.25}},
                    traces={"a": [1.0, 0.0, 1.0, 0.0]}, source_share={"session": 1.0})
    files = write_report(report, tmp_path, window=2)
    assert [f.name for f in files] == ["quality-test.md", "hr10-windows-test.png", "source-share-test.png"]
    text = files[0].read_text()
    assert "| a | 0.5000 | 0.2500 | nan |" in text and "| session | 1.000 |" in text
    assert table_markdown({}).count("\n") == 1
    assert not math.isnan(report.rows["a"]["hr@10"])
