"""``GET /recommendations/{user_id}?k=&scenario=``: a fresh list, served by the owning worker.

Routed with ``table_route`` on the users table (as ``/users`` is), so the list is made
from the user's current state wherever the request arrives. The list is also published
to ``recommendations`` (with a ``request_id`` of ``http-…``) so the feedback loop can
credit clicks on it like any other list.
"""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from streams.agents.requests import parse_k
from streams.errors import InvalidMessage
from streams.ranking.service import Job

if TYPE_CHECKING:
    from streams.agents.ranking import RankingAgent
    from streams.app import Runtime


def job_from_query(user_id: str, query: Any) -> Job:
    """The ranking job of one HTTP request; InvalidMessage for a bad ``k``."""
    k_raw = query.get("k")
    try:
        k = parse_k(int(k_raw)) if k_raw not in (None, "") else None
    except ValueError:
        raise InvalidMessage(f"'k' must be an integer in 1..1000, got {k_raw!r:.40}") from None
    return Job(user_id=user_id, scenario=query.get("scenario") or None,
               request_id=f"http-{uuid.uuid4().hex}", k=k)


def register(app: Any, rt: Runtime, ranking: RankingAgent) -> None:
    """Declare the view (needs the web server enabled)."""

    @app.page("/recommendations/{user_id}")
    @app.table_route(table=rt.users, match_info="user_id")
    async def get_recommendations(web: Any, request: Any, user_id: str) -> Any:
        try:
            job = job_from_query(user_id, request.query)
        except InvalidMessage as exc:
            return web.json({"error": exc.reason, "user_id": user_id}, status=400)
        state = ranking.user_state(user_id)
        job = Job(job.user_id, state, job.scenario, None, job.request_id, job.k)
        return web.json(ranking.rank_now([job])[0])
