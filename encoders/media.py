"""Fetch an item's media bytes from its wire reference (``path`` or ``b64``).

URLs are refused on purpose: workers have no internet access, and fetching arbitrary
URLs from a stream worker would be a server-side request forgery hole anyway.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path

from encoders.errors import MediaError


def load_media(ref: Mapping[str, str], kind: str, max_bytes: int,
               media_root: Path | None = None) -> bytes:
    """Return the raw bytes behind ``ref`` or raise :class:`MediaError` saying why not.

    ``media_root``, when set, confines ``path`` references to that folder.
    """
    if "url" in ref:
        raise MediaError(f"{kind}: URLs are not fetched (workers have no network); "
                         f"send 'path' or 'b64' instead of {ref['url']!r:.80}")
    if "b64" in ref:
        return _from_b64(ref["b64"], kind, max_bytes)
    if "path" in ref:
        return _from_path(ref["path"], kind, max_bytes, media_root)
    raise MediaError(f"{kind}: expected one of 'path', 'b64', got keys {sorted(ref)}")


def _from_b64(text: str, kind: str, max_bytes: int) -> bytes:
    if len(text) * 3 // 4 > max_bytes + 3:
        raise MediaError(f"{kind}: oversized b64 payload (~{len(text) * 3 // 4} bytes > limit {max_bytes})")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MediaError(f"{kind}: 'b64' is not valid base64 ({exc})") from None
    if len(data) > max_bytes:
        raise MediaError(f"{kind}: oversized ({len(data)} bytes > limit {max_bytes})")
    return data


def _from_path(path_str: str, kind: str, max_bytes: int, media_root: Path | None) -> bytes:
    path = Path(path_str)
    if media_root is not None:
        root = media_root.resolve()
        path = (root / path).resolve()
        if not path.is_relative_to(root):
            raise MediaError(f"{kind}: path {path_str!r} is outside the media root {str(root)!r}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise MediaError(f"{kind}: oversized file {path_str!r} ({size} bytes > limit {max_bytes})")
        return path.read_bytes()
    except OSError as exc:
        raise MediaError(f"{kind}: cannot read {path_str!r}: {exc.strerror or exc}") from None
