"""Snapshot files: round trip, atomic replace, clear errors for foreign files."""
from __future__ import annotations

import numpy as np
import pytest

from index import snapshot
from index.errors import SnapshotError


def test_round_trip_and_replace(tmp_path) -> None:
    path = tmp_path / "idx" / "snap.npz"
    assert snapshot.load(path) is None
    vecs = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    snapshot.save(path, snapshot.Snapshot(["a", "é", "c"], vecs, {0: 5, 3: 9}, {"dim": 8}))
    got = snapshot.load(path)
    assert got is not None and got.ids == ["a", "é", "c"] and got.offsets == {0: 5, 3: 9}
    np.testing.assert_array_equal(got.vectors, vecs)
    assert got.meta["dim"] == 8
    snapshot.save(path, snapshot.Snapshot([], np.zeros((0, 8), np.float32), {0: 6}))
    again = snapshot.load(path)
    assert again is not None and again.ids == [] and again.offsets == {0: 6}
    assert [p.name for p in path.parent.iterdir()] == ["snap.npz"]  # no temp files left


def test_foreign_file_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "snap.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(SnapshotError, match="unreadable"):
        snapshot.load(path)
    np.savez(path, ids=np.array(["a"]), vectors=np.zeros((2, 4), np.float32), meta=np.array("{}"))
    with pytest.raises(SnapshotError, match="expected format"):
        snapshot.load(path)
