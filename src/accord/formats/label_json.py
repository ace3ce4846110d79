"""Accord's JSON form of a label (``docs/labels.md``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from accord.core.labels import Label, PolicyCategory, Succession
from accord.errors import InputError, LabelError
from accord.formats._dates import aware_datetime
from accord.formats._json import load_json

#: Largest label document accepted (a label is a few hundred bytes; this leaves room for many topics).
MAX_LABEL_BYTES = 256 * 1024
#: What a malformed label document raises (an InputError: one `error: WHERE: WHAT` line at the CLI).
_ERROR: type[InputError] = LabelError

_KEYS = {
    "originator",
    "classification",
    "topics",
    "releasable_to",
    "caveats",
    "created",
    "review",
    "id",
    "only",
    "succession",
    "categories",
}


def _when(value: Any, field: str, source: str | None) -> datetime:
    if isinstance(value, str) and (when := aware_datetime(value)) is not None:
        return when
    raise LabelError(f"expected an ISO 8601 date-time with a time zone, got {value!r}", source=source, field=field)


def label_from_dict(data: Any, *, source: str | None = None) -> Label:
    """Build a :class:`Label` from its JSON form; raise :class:`LabelError` naming the field."""
    if not isinstance(data, Mapping):
        raise LabelError("a label is a JSON object", source=source)
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise LabelError(f"unknown field(s) {', '.join(unknown)}", source=source)
    for key in ("originator", "classification", "created"):
        if key not in data:
            raise LabelError("required field is missing", source=source, field=key)
    lists: dict[str, list[str]] = {}
    for key in ("topics", "releasable_to", "caveats"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise LabelError("expected a list of strings", source=source, field=key)
        lists[key] = value
    review = data.get("review")
    item_id = data.get("id")
    only = data.get("only", [])
    if not isinstance(only, list) or not all(isinstance(v, str) for v in only):
        raise LabelError("expected a list of strings", source=source, field="only")
    successor = _succession(data.get("succession"), item_id, source)
    cats = data.get("categories", [])
    if not isinstance(cats, list) or not all(
        isinstance(c, Mapping) and set(c) == {"tag", "type", "values"} and isinstance(c["values"], list) for c in cats
    ):
        raise LabelError("expected a list of {tag, type, values}", source=source, field="categories")
    try:
        return Label(
            originator=data["originator"],
            classification=data["classification"],
            topics=frozenset(lists["topics"]),
            releasable_to=frozenset(lists["releasable_to"]),
            caveats=frozenset(lists["caveats"]),  # type: ignore[arg-type]  # validated by Label
            created=_when(data["created"], "created", source),
            review=None if review is None else _when(review, "review", source),
            id=item_id,
            only=frozenset(only),
            successor=successor,
            categories=tuple(PolicyCategory(c["tag"], c["type"], tuple(c["values"])) for c in cats),
        )
    except LabelError as exc:
        raise LabelError(exc.message, source=source, field=exc.field) from None


def _succession(value: Any, item_id: Any, source: str | None) -> Succession | None:
    """``succession``: {"start", "end", "label"} (STANAG 4774 SuccessionHandling, docs/labels.md)."""
    if value is None:
        return None
    if (
        not isinstance(value, Mapping)
        or set(value) != {"start", "end", "label"}
        or not isinstance(value["label"], Mapping)
    ):
        raise LabelError("expected {start, end, label}", source=source, field="succession")
    nxt = dict(value["label"])
    if "id" in nxt:
        raise LabelError("a successor names no item of its own", source=source, field="succession.label.id")
    nxt["id"] = item_id
    try:
        return Succession(
            _when(value["start"], "succession.start", source),
            _when(value["end"], "succession.end", source),
            label_from_dict(nxt, source=source),
        )
    except LabelError as exc:
        raise LabelError(exc.message, source=source, field=exc.field) from None


def label_to_dict(label: Label) -> dict[str, Any]:
    """The JSON form of a label (sorted lists, UTC times; ``only`` and ``succession`` when present)."""
    out: dict[str, Any] = {
        "originator": label.originator,
        "classification": label.marking,
        "topics": sorted(label.topics),
        "releasable_to": sorted(label.releasable_to),
        "caveats": sorted(c.value for c in label.caveats),
        "created": label.created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "review": None if label.review is None else label.review.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "id": label.id,
    }
    if label.only:
        out["only"] = sorted(label.only)
    if label.categories:
        out["categories"] = [{"tag": c.tag, "type": c.type, "values": list(c.values)} for c in label.categories]
    if label.successor is not None:
        nxt = label_to_dict(label.successor.label)
        del nxt["id"]
        out["succession"] = {"start": _z(label.successor.start), "end": _z(label.successor.end), "label": nxt}
    return out


def _z(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def label_from_json(text: str | bytes, *, source: str | None = None) -> Label:
    """Parse a label from JSON text (strictly: a repeated key, NaN, a lone surrogate or deep nesting is an
    error; see :mod:`accord.formats._json`)."""
    data = load_json(text, source=source, max_bytes=MAX_LABEL_BYTES, error=_ERROR)
    return label_from_dict(data, source=source)


def label_to_json(label: Label) -> str:
    """Serialise a label to JSON text."""
    return json.dumps(label_to_dict(label), ensure_ascii=False, indent=2)
