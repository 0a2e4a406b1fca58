"""The MovieLens-100K loader, its optional media enrichment and the wire events it yields."""

from pathlib import Path

import numpy as np
import pytest

from streams.data.events import item_event, item_events, rating_events
from streams.data.media import MEDIA_ENV, find_media_dir, parse_plots
from streams.data.movielens import Item, load_movielens, parse_item


@pytest.fixture(scope="module")
def plain():
    return load_movielens(with_media=False)


def test_counts(plain) -> None:
    assert len(plain.ratings) == 100_000
    assert len(plain.user_ids) == 943 and len(np.unique(plain.ratings.user_ids)) == 943
    assert len(plain.items) == 1_682 and len(np.unique(plain.ratings.item_ids)) == 1_682


def test_replay_order(plain) -> None:
    r = plain.ratings
    keys = list(zip(r.timestamps.tolist(), r.user_ids.tolist(), r.item_ids.tolist()))
    assert keys == sorted(keys)
    assert set(np.unique(r.values).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_items_without_media(plain) -> None:
    toy = plain.items[1]
    assert (toy.title, toy.year, toy.genres) == ("Toy Story", 1995, ("Animation", "Children's", "Comedy"))
    assert toy.plot is None and toy.poster is None
    assert plain.items[267] == Item(267, "", None, ())  # the 'unknown' row


def test_media_from_env_folder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "posters").mkdir()
    (tmp_path / "posters" / "2.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "plots.jsonl").write_text('{"item_id": 1, "title": "Toy Story (1995)", "plot": "Toys."}\n'
                                          '{"item_id": 3, "title": "x"}\n')
    monkeypatch.setenv(MEDIA_ENV, str(tmp_path))
    data = load_movielens()
    assert data.items[1].plot == "Toys." and data.items[1].poster is None
    assert data.items[2].poster == (tmp_path / "posters" / "2.jpg").resolve()
    assert data.items[3].plot is None
    monkeypatch.setenv(MEDIA_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        find_media_dir()


def test_parse_plots_skips_empty() -> None:
    assert parse_plots([b'{"item_id": 5, "plot": " A. "}', b"", b'{"item_id": 6, "plot": ""}']) == {5: "A."}


def test_item_event_shape() -> None:
    item = parse_item(["7", "Twelve Monkeys", "1995", "Drama Sci-Fi"], None)
    event = item_event(item, 10.0)
    assert event == {"item_id": "7", "op": "upsert", "title": "Twelve Monkeys (1995)",
                     "text": "Twelve Monkeys. Drama, Sci-Fi", "tags": ["Drama", "Sci-Fi"], "ts": 10.0}
    with_poster = item_event(Item(7, "T", None, (), "Plot.", Path("/p/7.jpg")), 1.0)
    assert with_poster["image"] == {"path": "/p/7.jpg"} and with_poster["text"] == "Plot."


def test_wire_events(plain) -> None:
    items = list(item_events(plain))
    assert len(items) == 1_682 and all(e["ts"] == 874724710.0 for e in items)
    ratings = rating_events(plain.ratings)
    first = next(ratings)
    assert first == {"event_id": "ml100k-259-255", "type": "rating", "user_id": "259",
                     "item_id": "255", "ts": 874724710.0, "value": 4.0}
    assert sum(1 for _ in ratings) == 99_999
