"""Custody record documents (YAML or JSON), see ``docs/custody.md``.

A custody record says how a holder holds one item: from whom, when, under which agreement, in which
markings, in which state, with its copies and derived items. Unknown fields, a repeated key, a bad date
or state are refused (``FILE: FIELD: what``), and nothing is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accord.core.custody import Custody, CustodyError, CustodyState
from accord.core.parties import is_alpha3, is_text
from accord.formats._dates import document_day
from accord.formats._yaml import load_yaml

_KEYS = {
    "item",
    "originator",
    "holder",
    "agreement",
    "received_from",
    "received_on",
    "marking",
    "alternative",
    "state",
    "copies",
    "derived",
    "sources",
    "purpose",
}
_REQUIRED = {"item", "originator", "holder", "agreement"}


def custody_from_dict(data: Any, *, source: str) -> Custody:
    """A :class:`Custody` from its document form; :class:`CustodyError` names the field."""
    if not isinstance(data, Mapping):
        raise CustodyError("a custody record is a mapping of fields", source=source)
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise CustodyError(f"unknown field(s) {', '.join(unknown)}", source=source)
    for key in sorted(_REQUIRED):
        if key not in data:
            raise CustodyError("required field is missing", source=source, field=key)

    def text(name: str, *, optional: bool = True) -> str | None:
        value = data.get(name)
        if value is None and optional:
            return None
        if not is_text(value):
            raise CustodyError("expected a non-empty string", source=source, field=name)
        return str(value)

    def party(name: str, *, optional: bool = False) -> str | None:
        value = data.get(name)
        if value is None and optional:
            return None
        if not is_alpha3(value):
            raise CustodyError(f"{value!r} is not an ISO 3166 alpha-3 code", source=source, field=name)
        return str(value)

    def ids(name: str) -> tuple[str, ...]:
        value = data.get(name, [])
        if not isinstance(value, list) or not all(is_text(v) for v in value):
            raise CustodyError("expected a list of item ids", source=source, field=name)
        return tuple(value)

    try:
        state = CustodyState(data.get("state", "HELD"))
    except ValueError:
        raise CustodyError(
            f"state must be one of {', '.join(s.value for s in CustodyState)}", source=source, field="state"
        ) from None
    copies = data.get("copies", 0)
    if not isinstance(copies, int) or isinstance(copies, bool) or copies < 0:
        raise CustodyError("expected a count >= 0", source=source, field="copies")
    originator, holder = party("originator"), party("holder")
    assert originator is not None and holder is not None
    if originator == holder:
        raise CustodyError("the originator's own items need no custody record", source=source, field="holder")
    return Custody(
        item=text("item", optional=False),
        originator=originator,
        holder=holder,
        agreement=text("agreement", optional=False),
        received_from=party("received_from", optional=True),
        received_on=document_day(
            data.get("received_on"), source=source, field="received_on", optional=True, error=CustodyError
        ),
        marking=text("marking"),
        alternative=text("alternative"),
        state=state,
        copies=copies,
        derived=ids("derived"),
        sources=ids("sources"),
        purpose=text("purpose"),
    )


def load_custody(path: str | Path) -> Custody:
    """Read one custody record document."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CustodyError(f"cannot read: {exc.strerror}", source=str(p)) from None
    return custody_from_dict(load_yaml(raw, source=str(p)), source=str(p))
