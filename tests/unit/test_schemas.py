"""The wire contract's validation: every malformed kind gets a clear reason."""
from __future__ import annotations

import pytest

from streams.errors import InvalidMessage
from streams.schemas import Interaction, interaction_to_dict, parse_interaction, parse_item
from streams.settings import DEFAULT_EVENT_TYPES, EventTypeSpec, Settings
from streams.wire import dumps

TYPES = DEFAULT_EVENT_TYPES
GOOD = {"event_id": "e1", "type": "rating", "user_id": "u1", "item_id": "i1", "ts": 10.5, "value": 4}


def parse(obj: object, max_bytes: int = 10_000) -> Interaction:
    raw = obj if obj is None or isinstance(obj, bytes) else dumps(obj)
    return parse_interaction(raw, TYPES, max_bytes)


def test_valid_rating_round_trips() -> None:
    ev = parse(GOOD)
    assert ev == Interaction("e1", "rating", "u1", "i1", 10.5, 4.0)
    assert parse(interaction_to_dict(ev)) == ev


def test_iso_timestamp_and_optional_fields() -> None:
    ev = parse({**GOOD, "type": "click", "value": None, "ts": "1970-01-01T00:01:00Z",
                "rec_id": "r9", "scenario": "home"})
    assert (ev.ts, ev.rec_id, ev.scenario, ev.value) == (60.0, "r9", "home", None)


def test_missing_ts_uses_default_only_when_given() -> None:
    obj = {k: v for k, v in GOOD.items() if k != "ts"}
    assert parse_interaction(dumps(obj), TYPES, 10_000, default_ts=7.0).ts == 7.0
    with pytest.raises(InvalidMessage, match="missing 'ts'"):
        parse(obj)


@pytest.mark.parametrize("raw, reason", [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "expected a JSON object, got list"),
    (None, "empty value"),
    ({**GOOD, "user_id": 12}, "'user_id' must be a string, got int"),
    ({**GOOD, "item_id": ""}, "'item_id' must be 1..256 characters"),
    ({k: v for k, v in GOOD.items() if k != "event_id"}, "missing 'event_id'"),
    ({k: v for k, v in GOOD.items() if k != "user_id"}, "missing 'user_id'"),
    ({**GOOD, "type": "teleport"}, "unknown event type 'teleport'"),
    ({**GOOD, "value": 7}, "rating value 7 outside [0.5, 5]"),
    ({**GOOD, "value": None}, "'rating' needs a numeric 'value'"),
    ({**GOOD, "value": True}, "'value' must be a finite number"),
    ({**GOOD, "ts": "yesterday"}, "'ts' is not ISO-8601"),
    ({**GOOD, "ts": -1}, "'ts' must be >= 0"),
    ({**GOOD, "rec_id": 5}, "'rec_id' must be a string"),
])
def test_malformed_interactions_say_why(raw: object, reason: str) -> None:
    with pytest.raises(InvalidMessage) as exc:
        parse(raw)
    assert reason in exc.value.reason


def test_oversized_is_rejected_before_decoding() -> None:
    with pytest.raises(InvalidMessage, match="oversized: 2000 bytes > limit 1024"):
        parse(b" " * 2000, max_bytes=1024)


def test_extra_event_type_is_one_config_line() -> None:
    s = Settings(extra_event_types={"purchase": EventTypeSpec(weight=3.0)})
    ev = parse_interaction(dumps({**GOOD, "type": "purchase", "value": None}), s.all_event_types, 10_000)
    assert ev.type == "purchase"


def test_items_upsert_delete_and_media() -> None:
    it = parse_item(dumps({"item_id": "m1", "title": "Heat", "tags": ["Crime"], "image": {"path": "/p.jpg"}}), 10_000)
    assert (it.op, it.title, it.tags, it.image) == ("upsert", "Heat", ("Crime",), {"path": "/p.jpg"})
    assert parse_item(dumps({"item_id": "m1", "op": "delete"}), 10_000).op == "delete"


@pytest.mark.parametrize("obj, reason", [
    ({"item_id": "m1"}, "no title, text, tags or media"),
    ({"item_id": "m1", "op": "replace", "title": "x"}, "'op' must be 'upsert' or 'delete'"),
    ({"item_id": "m1", "title": "x", "tags": "drama"}, "'tags' must be a list of strings"),
    ({"item_id": "m1", "image": {"path": "a", "b64": "b"}}, "'image' must have exactly one"),
    ({"item_id": "m1", "audio": "x.wav"}, "'audio' must be an object"),
    ({"title": "x"}, "missing 'item_id'"),
])
def test_malformed_items_say_why(obj: dict, reason: str) -> None:
    with pytest.raises(InvalidMessage) as exc:
        parse_item(dumps(obj), 10_000)
    assert reason in exc.value.reason
