"""The temporal replay and the baselines on tiny sequences with answers worked out by hand."""

import math

import numpy as np
import pytest

from streams.data.movielens import Ratings
from streams.eval.baselines import ALSFoldIn, ItemKNN, Popularity
from streams.eval.protocol import Split, events_from_ratings, holdout_split, replay, validation_split
from streams.training.als import ALSParams, FoldIn


def _events(rows: list[tuple[int, int, float]], catalogue: list[int] | None = None):
    """(user, item, rating) rows, one second apart, already in replay order."""
    u, i, v = (np.array(c) for c in zip(*rows))
    ratings = Ratings(u.astype(np.int64), i.astype(np.int64), v.astype(np.float32), np.arange(len(rows), dtype=np.int64))
    return events_from_ratings(ratings, catalogue)


def test_splits() -> None:
    assert holdout_split(100) == Split(50, 100)
    assert validation_split(100) == Split(25, 50)


def test_replay_popularity_known_answer() -> None:
    ev = _events([
        (0, 0, 5), (0, 1, 5), (1, 1, 4), (1, 2, 3),  # warm-up
        (2, 0, 4),  # candidates {0,1,2}, positives 0:1 1:2 2:0 -> [1,0,2], rank 1
        (2, 3, 5),  # item 3 never seen -> miss
        (1, 0, 1),  # not positive: not scored
        (0, 2, 4),  # candidates {2,3}: 3 has one positive -> [3,2], rank 1
    ], catalogue=[0, 1, 2, 3, 4])
    totals = replay(ev, {"pop": Popularity(ev.n_users, ev.n_items)}, Split(4, 8))["pop"]
    s = totals.summary()
    assert s["scored"] == 3
    assert s["hr@10"] == pytest.approx(2 / 3)
    assert s["ndcg@10"] == pytest.approx(2 / math.log2(3) / 3)
    assert s["coverage@10"] == pytest.approx(4 / 5)  # items 0..3 recommended, 4 never
    assert totals.hit_trace == [1.0, 0.0, 1.0]


def test_replay_never_recommends_rated_or_unseen_items() -> None:
    class Spy(Popularity):
        lists: list[list[int]] = []

        def recommend(self, user, candidates, k):
            rec = super().recommend(user, candidates, k)
            self.lists.append(rec.items.tolist())
            return rec

    ev = _events([(0, 0, 5), (0, 1, 5), (1, 0, 5), (1, 2, 5), (0, 3, 5)])
    spy = Spy(ev.n_users, ev.n_items)
    replay(ev, {"spy": spy}, Split(3, 5))
    # user 1 has rated 0 and item 2 is not seen yet -> only 1; then user 0 may get only 2
    assert spy.lists == [[1], [2]]


def test_itemknn_cosine_sum() -> None:
    knn = ItemKNN(n_users=3, n_items=3)
    for u, i in [(0, 0), (0, 1), (1, 0), (1, 2), (2, 0)]:
        knn.observe(u, i, 5.0, 0.0)
    knn.observe(2, 1, 2.0, 0.0)  # a negative changes nothing
    # counts n = [3, 1, 1]; co(0,1) = 1, co(0,2) = 1; user 2's positives = [0]
    assert knn.scores(2).tolist() == pytest.approx([1.0, 1 / math.sqrt(3), 1 / math.sqrt(3)])
    # user 0's positives [0, 1]: item 2 gets sim(0,2) + sim(1,2) = 1/sqrt(3) + 0
    assert knn.scores(0)[2] == pytest.approx(1 / math.sqrt(3))


def test_foldin_matches_normal_equations() -> None:
    fold = FoldIn.build(np.eye(2), regularization=1.0)
    assert fold.user_vector(np.array([0])).tolist() == pytest.approx([0.5, 0.0])  # (2I)^-1 [1, 0]
    # confidence 3 on item 0: A = 2I + 2 e0 e0^T = diag(4, 2), b = [3, 0]
    assert fold.user_vector(np.array([0]), np.array([3.0])).tolist() == pytest.approx([0.75, 0.0])


def test_als_refits_on_schedule() -> None:
    als = ALSFoldIn(4, 5, ALSParams(factors=2, iterations=2), refit_every=3)
    for n, (u, i) in enumerate([(0, 0), (1, 1), (2, 2), (3, 3)]):
        als.observe(u, i, 5.0, float(n))
    als.scores(0)
    assert als.fits == 1
    for _ in range(2):
        als.observe(0, 4, 5.0, 9.0)
    als.scores(0)
    assert als.fits == 1  # only 2 events since the fit
    als.observe(1, 4, 5.0, 9.0)
    als.scores(1)
    assert als.fits == 2
