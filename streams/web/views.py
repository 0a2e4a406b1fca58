"""Worker web views: ``/users/{user_id}`` (routed to the owning worker), ``/health``, ``/metrics``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.web.summary import user_summary

if TYPE_CHECKING:
    from streams.app import Runtime


def _settling(app: Any) -> bool:
    """A rebalance or a table recovery is in progress (state may be incomplete here)."""
    return bool(app.rebalancing or getattr(app, "in_recovery", False))


def register(app: Any, rt: Runtime) -> None:
    """Declare the views on ``app`` (needs the web server enabled)."""

    @app.page("/users/{user_id}")
    @app.table_route(table=rt.users, match_info="user_id")
    async def get_user(web: Any, request: Any, user_id: str) -> Any:
        raw = rt.read_user(user_id)
        if raw is None and _settling(app):  # the owner's table may still be filling: not a 404
            return web.json({"error": "partitions are being reassigned or recovered; retry shortly",
                             "user_id": user_id}, status=503, headers={"Retry-After": "1"})
        if raw is None:
            return web.json({"error": f"no state for user {user_id!r}", "user_id": user_id}, status=404)
        full = request.query.get("vectors") in ("1", "true")
        return web.json(user_summary(raw, vectors=full))

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        assigned = app.assignor.assigned_actives() if app.assignor else set()
        return web.json({
            "ok": True, "app_id": rt.settings.app_id, "settling": _settling(app), "partitions": sorted(tp.partition for tp in assigned
                                                                            if tp.topic == rt.settings.topic("interactions")),
            "item_vectors": len(rt.vectors), "cf_model": rt.model.model.version if rt.model.model else None,
            "applied": rt.stats.applied, "duplicates": rt.stats.duplicates, "rejected": rt.stats.rejected,
            "followers_ready": {n: f.ready.is_set() for n, f in rt.followers.items()},
        })

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
