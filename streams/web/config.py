"""``GET /config?scenario=`` (this worker's active version) and ``PUT /config`` (propose).

``PUT`` takes the same JSON proposal as the ``control`` topic (``{"scenario": …,
"weights": {…}, "k": …}``) and goes through :func:`streams.config_admin.propose`, so an
invalid one is answered 400 with every problem and recorded in ``deadletter``; a valid
one is answered once this worker's own fold has applied it, with the version it has on
every worker.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from streams import config_admin
from streams.agents.control import await_fold
from streams.errors import InvalidMessage
from streams.wire import loads

if TYPE_CHECKING:
    from streams.agents.control import WorkerConfig
    from streams.app import Runtime


def register(app: Any, rt: Runtime, cfg: WorkerConfig) -> None:
    from faust.web import View

    class ConfigView(View):
        async def get(self, request: Any) -> Any:
            cv = cfg.get(request.query.get("scenario") or None)
            return self.json(config_admin.as_dict(cv))

        async def put(self, request: Any) -> Any:
            try:
                proposal = loads(await self.read_request_content(request))
            except ValueError as exc:
                return self.json({"error": f"not JSON: {exc}"}, status=400)
            if not isinstance(proposal, dict):
                return self.json({"error": "expected a JSON object (a config proposal)"}, status=400)
            loop = asyncio.get_running_loop()
            try:
                cv = await loop.run_in_executor(None, config_admin.propose, rt.settings, proposal)
            except InvalidMessage as exc:
                return self.json({"error": exc.reason}, status=400)
            applied = await await_fold(cfg, cv.version - 1, timeout_s=10)
            return self.json({**config_admin.as_dict(cv), "applied_here": applied})

    app.page("/config")(ConfigView)
