"""Wire events (``items`` and ``interactions`` topic dicts) generated from MovieLens.

Kept apart from the loader so the replay CLI can stream them without knowing the
file format; ids become strings because the wire contract keys are strings.
"""

from __future__ import annotations

from collections.abc import Iterator

from streams.data.movielens import Item, MovieLens, Ratings


def item_text(item: Item) -> str:
    """Plot when there is one, else a title + genres line, so the text is never empty."""
    if item.plot:
        return item.plot
    genres = ", ".join(item.genres)
    return f"{item.title}. {genres}".strip(". ") if genres else item.title


def item_event(item: Item, ts: float) -> dict:
    """The ``items``-topic upsert for one movie; ``image`` only when a poster exists."""
    title = f"{item.title} ({item.year})" if item.year else item.title
    event: dict = {
        "item_id": str(item.item_id),
        "op": "upsert",
        "title": title,
        "text": item_text(item),
        "tags": list(item.genres),
        "ts": float(ts),
    }
    if item.poster is not None:
        event["image"] = {"path": str(item.poster)}
    return event


def item_events(data: MovieLens) -> Iterator[dict]:
    """All items in id order, stamped at the first rating so they precede every interaction."""
    first = float(data.ratings.timestamps.min()) if len(data.ratings) else 0.0
    for item_id in sorted(data.items):
        yield item_event(data.items[item_id], first)


def rating_events(ratings: Ratings) -> Iterator[dict]:
    """``interactions``-topic rating events in replay order (timestamp, user, item)."""
    for user, item, value, ts in zip(
        ratings.user_ids.tolist(), ratings.item_ids.tolist(),
        ratings.values.tolist(), ratings.timestamps.tolist(), strict=True,
    ):
        yield {
            "event_id": f"ml100k-{user}-{item}",
            "type": "rating",
            "user_id": str(user),
            "item_id": str(item),
            "ts": float(ts),
            "value": float(value),
        }
