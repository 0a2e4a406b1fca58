"""``genre user show USER``: a user's state summary from a running streams worker.

Any worker will do: the view routes the request to the worker that owns the user.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from streams.errors import GenreError
from streams.settings import Settings


class WorkerUnavailable(GenreError):
    """No streams worker answered at the given web URL."""


def worker_url(settings: Settings, web_url: str | None = None) -> str:
    return (web_url or f"http://127.0.0.1:{settings.worker_web_port}").rstrip("/")


def show_user(settings: Settings, user_id: str, web_url: str | None = None,
              vectors: bool = False, timeout_s: float = 10.0) -> dict[str, Any]:
    """The summary dict of ``GET /users/{user_id}``; ``{"error": …}`` when the user has no state."""
    url = f"{worker_url(settings, web_url)}/users/{urllib.parse.quote(user_id, safe='')}"
    if vectors:
        url += "?vectors=1"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return json.loads(body)
        except ValueError:
            raise WorkerUnavailable(f"{url} answered {exc.code}: {body[:200]!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise WorkerUnavailable(f"no streams worker at {url} ({exc}); start one with 'genre up' "
                                "or 'python -m streams.worker', or pass --url") from None
