"""Optional side data for ML-100K items: plot text and poster paths.

The media folder lives outside the repository (it must never be committed), so it
is found through ``GENRE_ML100K_MEDIA`` or ``<repo>/../shared/data/ml-100k-media``;
when neither exists the dataset simply has no plots or posters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import orjson

MEDIA_ENV = "GENRE_ML100K_MEDIA"
_REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MEDIA_DIR = _REPO_ROOT.parent / "shared" / "data" / "ml-100k-media"


@dataclass(frozen=True)
class Media:
    """What the companion folder knows about one item."""

    plot: str | None
    poster: Path | None


def find_media_dir(explicit: str | Path | None = None) -> Path | None:
    """The media folder to use, or None when none is available.

    An explicit path (or the env variable) that does not exist is an error rather
    than a silent fallback, because the caller asked for it by name.
    """
    chosen = explicit if explicit is not None else os.environ.get(MEDIA_ENV)
    if chosen:
        path = Path(chosen)
        if not path.is_dir():
            raise FileNotFoundError(f"ML-100K media folder {path} does not exist")
        return path
    return DEFAULT_MEDIA_DIR if DEFAULT_MEDIA_DIR.is_dir() else None


def parse_plots(lines: list[bytes]) -> dict[int, str]:
    """Plot text per item id from ``plots.jsonl`` lines; records without a plot are skipped."""
    plots: dict[int, str] = {}
    for line in lines:
        if not line.strip():
            continue
        record = orjson.loads(line)
        plot = record.get("plot")
        if isinstance(plot, str) and plot.strip():
            plots[int(record["item_id"])] = plot.strip()
    return plots


def load_media(media_dir: Path) -> dict[int, Media]:
    """Plot and poster per item id found in ``media_dir`` (items with neither are absent)."""
    plots_file = media_dir / "plots.jsonl"
    plots = parse_plots(plots_file.read_bytes().splitlines()) if plots_file.exists() else {}
    posters: dict[int, Path] = {}
    poster_dir = media_dir / "posters"
    if poster_dir.is_dir():
        for file in poster_dir.glob("*.jpg"):
            if file.stem.isdigit():
                posters[int(file.stem)] = file.resolve()
    ids = set(plots) | set(posters)
    return {i: Media(plot=plots.get(i), poster=posters.get(i)) for i in ids}
