"""MovieLens-100K, read straight from the files shipped in the ``recbole==1.2.1`` wheel.

recbole is installed only for its data files (``--no-deps``); importing it would
pull half of PyTorch's ecosystem, so the package folder is located with
``importlib.util.find_spec`` and the atomic files are parsed here.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streams.data.media import Media, find_media_dir, load_media

_UNKNOWN = {"unknown", "unkonwn", ""}


@dataclass(frozen=True)
class Ratings:
    """All ratings as parallel arrays, sorted by (timestamp, user, item) — replay order."""

    user_ids: np.ndarray  # int64
    item_ids: np.ndarray  # int64
    values: np.ndarray  # float32, 1..5
    timestamps: np.ndarray  # int64 epoch seconds

    def __len__(self) -> int:
        return int(self.user_ids.shape[0])


@dataclass(frozen=True)
class Item:
    """One movie with whatever side data is available."""

    item_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    plot: str | None = None
    poster: Path | None = None


@dataclass(frozen=True)
class MovieLens:
    """The dataset: ratings in replay order, items by id, and the user ids."""

    ratings: Ratings
    items: dict[int, Item]
    user_ids: np.ndarray  # int64, sorted


def dataset_dir() -> Path:
    """The ``ml-100k`` folder inside the installed recbole package."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("recbole==1.2.1 is not installed (pip install --no-deps recbole==1.2.1)")
    for location in spec.submodule_search_locations:
        folder = Path(location) / "dataset_example" / "ml-100k"
        if (folder / "ml-100k.inter").exists():
            return folder
    raise FileNotFoundError("recbole is installed but has no dataset_example/ml-100k")


def _rows(path: Path) -> list[list[str]]:
    """Data rows of an atomic file (header dropped, tab separated)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines[1:] if line.strip()]


def parse_ratings(rows: list[list[str]]) -> Ratings:
    """Ratings from ``.inter`` rows, put in replay order."""
    table = np.array(rows, dtype=object)
    users = table[:, 0].astype(np.int64)
    items = table[:, 1].astype(np.int64)
    values = table[:, 2].astype(np.float32)
    stamps = table[:, 3].astype(np.float64).astype(np.int64)
    order = np.lexsort((items, users, stamps))
    return Ratings(users[order], items[order], values[order], stamps[order])


def parse_item(row: list[str], media: Media | None) -> Item:
    """One ``.item`` row; 'unknown' titles, years and genres become empty/None."""
    row = row + [""] * (4 - len(row))
    title = "" if row[1].strip() in _UNKNOWN else row[1].strip()
    year = int(row[2]) if row[2].strip().isdigit() else None
    genres = tuple(g for g in row[3].split() if g.lower() not in _UNKNOWN)
    plot = media.plot if media else None
    poster = media.poster if media else None
    return Item(int(row[0]), title, year, genres, plot, poster)


def load_movielens(media_dir: str | Path | None = None, *, with_media: bool = True) -> MovieLens:
    """Load ratings, items and users; enrich items with plots/posters when the media folder exists."""
    folder = dataset_dir()
    found = find_media_dir(media_dir) if with_media else None
    media = load_media(found) if found else {}
    ratings = parse_ratings(_rows(folder / "ml-100k.inter"))
    items = {}
    for row in _rows(folder / "ml-100k.item"):
        item = parse_item(row, media.get(int(row[0])))
        items[item.item_id] = item
    users = np.array(sorted(int(r[0]) for r in _rows(folder / "ml-100k.user")), dtype=np.int64)
    return MovieLens(ratings=ratings, items=items, user_ids=users)
