"""JSON encoding for every topic: orjson, numpy-aware, one place.

Values on the wire are UTF-8 JSON objects. numpy arrays serialise natively (orjson's
OPT_SERIALIZE_NUMPY), so vectors need no per-call ``tolist()``.
"""
from __future__ import annotations

from typing import Any

import orjson

_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` as compact JSON bytes."""
    return orjson.dumps(obj, option=_OPTS)


def loads(raw: bytes | bytearray | memoryview | str) -> Any:
    """Decode JSON; raises ``orjson.JSONDecodeError`` (a ``ValueError``) on bad input."""
    return orjson.loads(raw)
