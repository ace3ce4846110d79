"""Strict JSON reading: the one reader of every JSON document Accord is given.

Ambiguity is refused, never resolved, and every size is bounded before the document is parsed:

- a repeated key in an object is an error (``{"originator": "KOR", …, "originator": "USA"}``), not
  "last one wins";
- ``NaN``, ``Infinity`` and ``-Infinity`` (which are not JSON) are refused;
- a string holding a lone UTF-16 surrogate (``"\\ud800"``), which no UTF-8 output can carry, is refused;
- the document is at most ``max_bytes`` long and nested at most ``max_depth`` deep, checked by a scan
  *before* the parser recurses (``[[[[…`` 100,000 deep is one clear error, not a RecursionError).

Every failure is an :class:`~accord.errors.InputError` (or the ``error`` subclass asked for) naming the
source.
"""

from __future__ import annotations

import json
import re
from typing import Any

from accord.errors import InputError

#: Deepest nesting of arrays and objects Accord accepts in a document it is given.
MAX_DEPTH = 64
#: Largest document (bytes) Accord parses unless the caller sets another bound.
MAX_BYTES = 4 * 1024 * 1024

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def nesting_depth(text: str, limit: int) -> int:
    """The nesting depth of brackets outside strings, stopping as soon as it exceeds ``limit``."""
    if text.count("[") + text.count("{") <= limit:  # cannot be deeper than the number of openings
        return 0
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        if m.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {key!r} (ambiguous: refused rather than picking one)")
            seen.add(key)
    return out


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON value")


def _check_strings(value: Any) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                raise _Refused("a string holds a lone UTF-16 surrogate")
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def load_json(
    data: str | bytes,
    *,
    source: str | None,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    error: type[InputError] = InputError,
) -> Any:
    """Parse one JSON document strictly (see the module); raise ``error`` naming ``source``."""
    if len(data) > max_bytes:
        raise error(f"document is {len(data)} bytes; at most {max_bytes} are accepted", source=source)
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"not valid JSON: not UTF-8 ({exc.reason} at byte {exc.start})", source=source) from None
    else:
        text = data
    if nesting_depth(text, max_depth) > max_depth:
        raise error(f"not accepted: nested more than {max_depth} deep", source=source)
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
        if "\\u" in text or (not isinstance(data, bytes) and _SURROGATE.search(text)):  # else none can be there
            _check_strings(value)
    except _Refused as exc:
        raise error(f"not accepted: {exc.message}", source=source) from None
    except RecursionError:  # cannot happen after the depth scan; kept as a last guard
        raise error(f"not accepted: nested more than {max_depth} deep", source=source) from None
    except ValueError as exc:  # JSONDecodeError, and int('9' * 5000) beyond Python's digit limit
        raise error(f"not valid JSON: {exc}", source=source) from None
    return value
