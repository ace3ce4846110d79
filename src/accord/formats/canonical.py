"""Canonical JSON: the one byte form that Accord hashes and signs (sealed items, audit events).

Sorted keys, no insignificant whitespace, UTF-8 (no ASCII escaping), no NaN/Infinity: RFC 8785 for the
subset Accord writes (strings, integers, booleans, null, lists, objects; no floats).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Built once: json.dumps with non-default arguments would build an encoder on every call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes of ``value``; TypeError/ValueError if it is not JSON-serialisable."""
    return _ENCODER.encode(value).encode("utf-8")


def canonical_json_with(obj: Mapping[str, Any], encoded: Mapping[str, bytes]) -> bytes:
    """Canonical JSON of the object ``obj`` whose members named in ``encoded`` are given as their canonical JSON
    bytes already (e.g. a signed statement inside the manifest that carries it): the same bytes as
    ``canonical_json(obj)``, without encoding those members again. The caller vouches that each
    ``encoded[k]`` is ``canonical_json(obj[k])``."""
    if not encoded:
        return canonical_json(obj)
    parts = []
    for k in sorted(obj):
        if not isinstance(k, str):
            raise TypeError("canonical JSON object keys must be strings")
        v = encoded.get(k)
        parts.append(canonical_json(k) + b":" + (v if v is not None else canonical_json(obj[k])))
    return b"{" + b",".join(parts) + b"}"
