"""Index snapshots: vectors + ids + per-partition topic offsets in one file, atomically.

One ``.npz`` written to a temp file in the same folder, fsynced, then ``os.replace``d
over the old one: a reader (or a restart after a crash) sees the old snapshot or the
new one, never half of either. No pickle (``allow_pickle=False``): ids are a unicode
array, metadata a JSON string.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import SnapshotError

FORMAT = "genre-index-snapshot/1"


@dataclass(frozen=True)
class Snapshot:
    ids: list[str]
    vectors: np.ndarray
    offsets: dict[int, int]          #: partition -> next offset to read
    meta: dict[str, Any] = field(default_factory=dict)


def save(path: Path, snap: Snapshot) -> None:
    """Write ``snap`` to ``path`` atomically (temp file + fsync + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {**snap.meta, "format": FORMAT, "offsets": {str(p): o for p, o in snap.offsets.items()},
            "count": len(snap.ids)}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, ids=np.array(snap.ids, dtype=str), vectors=np.asarray(snap.vectors, np.float32),
                     meta=np.array(json.dumps(meta)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> Snapshot | None:
    """The snapshot at ``path``, or None when there is none yet."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            ids, vectors = [str(i) for i in z["ids"]], np.array(z["vectors"], dtype=np.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise SnapshotError(f"snapshot {path} is unreadable: {exc}") from exc
    if meta.get("format") != FORMAT or len(ids) != len(vectors):
        raise SnapshotError(f"snapshot {path}: expected format {FORMAT} with matching ids/vectors, "
                            f"got {meta.get('format')!r}, {len(ids)} ids, {len(vectors)} vectors")
    offsets = {int(p): int(o) for p, o in meta.pop("offsets").items()}
    return Snapshot(ids, vectors.reshape(len(ids), -1) if len(ids) else vectors, offsets, meta)
