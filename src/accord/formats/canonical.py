"""Canonical JSON: the one byte form that Accord hashes and signs (sealed items, audit events).

Sorted keys, no insignificant whitespace, UTF-8 (no ASCII escaping), no NaN/Infinity: RFC 8785 for the
subset Accord writes (strings, integers, booleans, null, lists, objects; no floats).
"""

from __future__ import annotations

import json
from typing import Any

# Built once: json.dumps with non-default arguments would build an encoder on every call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes of ``value``; TypeError/ValueError if it is not JSON-serialisable."""
    return _ENCODER.encode(value).encode("utf-8")
