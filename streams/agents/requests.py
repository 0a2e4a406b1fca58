"""The ``requests`` topic: ask for a list over Kafka; the answer goes to ``recommendations``.

Requests are keyed by user id like interactions, so they are co-partitioned with the users
table and land on the worker that holds the user's state. A valid request joins the
ranking agent's next batch (ahead of state changes) and its list carries ``request_id``;
an invalid one goes to ``deadletter`` with the reason.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from streams.errors import InvalidMessage
from streams.ranking.service import Job
from streams.schemas import decode_object

if TYPE_CHECKING:
    from streams.agents.ranking import RankingAgent
    from streams.app import Runtime

log = logging.getLogger(__name__)

REQUESTS = Counter("genre_ranking_requests_total", "Recommendation requests", ["outcome"])
MAX_K = 1000


def _str(obj: Mapping[str, Any], name: str, required: bool) -> str | None:
    v = obj.get(name)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v or len(v) > 256:
        raise InvalidMessage(f"'{name}' must be a string of 1..256 characters, got {v!r:.40}")
    return v


def parse_k(v: Any) -> int | None:
    """``k`` of a request: None (the config's k) or an int in 1..1000."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_K:
        raise InvalidMessage(f"'k' must be an integer in 1..{MAX_K}, got {v!r:.40}")
    return v


def parse_request(key: bytes | None, raw: bytes | None, max_bytes: int) -> Job:
    """A ``requests`` value → a ranking Job, or InvalidMessage saying why not."""
    obj = decode_object(raw, max_bytes)
    request_id = _str(obj, "request_id", True)
    user_id = _str(obj, "user_id", True)
    if key is not None and key.decode("utf-8", "replace") != user_id:
        raise InvalidMessage(f"message key {key[:40]!r} must equal user_id {user_id!r}: "
                             "requests are routed to the worker that owns the user")
    return Job(user_id=user_id or "", scenario=_str(obj, "scenario", False),  # type: ignore[arg-type]
               request_id=request_id, k=parse_k(obj.get("k")))


def register(app: Any, rt: Runtime, ranking: RankingAgent) -> Any:
    """Declare the requests agent on ``app``."""
    topic = app.topic(rt.settings.topic("requests"), key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="answer_requests")
    async def answer_requests(stream: Any) -> None:
        async for event in stream.events():
            m = event.message
            try:
                job = parse_request(m.key, m.value, rt.settings.max_message_bytes)
            except InvalidMessage as exc:
                REQUESTS.labels("rejected").inc()
                rt.deadletters.send(m.value, m.topic, m.partition, m.offset, exc.reason, key=m.key)
                rt.deadletters_flush()
                continue
            REQUESTS.labels("accepted").inc()
            ranking.dirty.request(job)

    return answer_requests
