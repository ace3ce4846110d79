"""Audit events: canonical JSON leaves carrying a label, a decision and an item digest, never content.

JK-R11 (Japan–ROK GSOMIA Art. 6(f)): each party keeps an inventory and a full custody and audit
trail of every item. Every decision (allowed or denied), release, delivery, receipt, access,
consent, reclassification, destruction and compromise report becomes one event.

Canonical form: JSON with sorted keys, no insignificant whitespace, UTF-8 (no ASCII escaping),
no NaN/Infinity. The leaf of the Merkle tree is exactly these bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from accord.core.ids import MAX_ID_LENGTH
from accord.errors import InputError
from accord.formats.canonical import canonical_json as _canonical_json

if TYPE_CHECKING:
    from accord.core.decision import Decision
    from accord.core.labels import Label

EVENT_VERSION = 1
EVENT_TYPES = frozenset(
    {
        "decision",
        "release",
        "delivery",
        "receipt",
        "access",
        "consent",
        "reclassification",
        "destruction",
        "compromise",
        "witness",  # a witness report about a partner's log (e.g. equivocation)
        "quarantine",  # an event the format refused, set aside so that the log never stalls (issue 9)
    }
)
# Keys that would carry an item's content. The log holds digests only.
FORBIDDEN_KEYS = frozenset({"content", "payload", "plaintext", "ciphertext"})
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_MAX_EVENT = 64 * 1024


def canonical_json(obj: Any) -> bytes:
    """:func:`accord.formats.canonical.canonical_json`, with a non-JSON value reported as bad input."""
    try:
        return _canonical_json(obj)
    except (TypeError, ValueError) as e:
        raise InputError(f"event is not JSON-serialisable: {e}", source="audit event") from e


_FORBIDDEN_RE = re.compile(rb'"(' + b"|".join(k.encode() for k in sorted(FORBIDDEN_KEYS)) + rb')":', re.IGNORECASE)


def _forbidden_key(canonical: bytes) -> str | None:
    """A key of :data:`FORBIDDEN_KEYS` anywhere in the object, found in its canonical JSON.

    In canonical JSON the sequence ``"name":`` can only be a key: inside a string value every
    quote is escaped, so a quote there is preceded by a backslash, never by a letter.
    """
    m = _FORBIDDEN_RE.search(canonical)
    return m.group(1).decode("ascii").lower() if m else None


def encode_event(event: Mapping[str, Any]) -> bytes:
    """Validate an event and return its canonical bytes (the Merkle leaf).

    Required: ``type`` (one of :data:`EVENT_TYPES`), ``item`` (non-empty string), ``digest``
    (``sha256:<64 hex>``), ``at`` (ISO 8601 string). ``v`` defaults to 1. ``label`` and
    ``decision`` are objects when present.

    Raises:
        InputError: a missing or malformed field, or a key that would carry content.
    """
    if not isinstance(event, dict | Mapping):
        raise InputError("an audit event must be a JSON object", source="audit event")
    ev = dict(event)
    ev.setdefault("v", EVENT_VERSION)
    if ev["v"] != EVENT_VERSION:
        raise InputError(f"unsupported event version {ev['v']!r}", source="audit event", field="v")
    if ev.get("type") not in EVENT_TYPES:
        raise InputError(f"type must be one of {', '.join(sorted(EVENT_TYPES))}", source="audit event", field="type")
    item = ev.get("item")
    if not isinstance(item, str) or not item or len(item) > MAX_ID_LENGTH:
        raise InputError(
            f"item must be a non-empty id of at most {MAX_ID_LENGTH} characters", source="audit event", field="item"
        )
    if not isinstance(ev.get("digest"), str) or not _DIGEST.match(ev["digest"]):
        raise InputError("digest must be 'sha256:' and 64 lower-case hex digits", source="audit event", field="digest")
    at = ev.get("at")
    if not isinstance(at, str):
        raise InputError("at must be an ISO 8601 timestamp string", source="audit event", field="at")
    try:
        datetime.fromisoformat(at)
    except ValueError as e:
        raise InputError("at must be an ISO 8601 timestamp", source="audit event", field="at") from e
    for key in ("label", "decision"):
        if key in ev and not isinstance(ev[key], dict | Mapping):
            raise InputError(f"{key} must be an object", source="audit event", field=key)
    out = canonical_json(ev)
    bad = _forbidden_key(out)
    if bad is not None:
        raise InputError("audit events carry digests, never content", source="audit event", field=bad)
    if len(out) > _MAX_EVENT:
        raise InputError("audit event too large (max 64 KiB)", source="audit event")
    return out


def decode_event(leaf: bytes) -> dict[str, Any]:
    """Parse a leaf back into a dict (no validation beyond strict JSON: InputError if it is not)."""
    from accord.formats._json import load_json

    obj = load_json(leaf, source="audit leaf")
    if not isinstance(obj, dict):
        raise InputError("an audit leaf must be a JSON object", source="audit leaf")
    return obj


def is_canonical(leaf: bytes) -> bool:
    """True iff ``leaf`` is the canonical encoding of the JSON object it holds."""
    try:
        return canonical_json(decode_event(leaf)) == leaf
    except (ValueError, InputError):
        return False


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_from_decision(
    decision: Decision | Mapping[str, Any],
    label: Label | Mapping[str, Any],
    item_digest: str,
    *,
    at: str | None = None,
    node: str | None = None,
) -> dict[str, Any]:
    """A ``decision`` event from a core ``Decision`` and ``Label`` (JK-R11 audit trail).

    Uses ``Decision.to_dict()`` and ``accord.formats.label_json.label_to_dict``; plain mappings
    are accepted too. The item id is the label's ``id``. ``item_digest`` is ``sha256:<hex>`` of the
    sealed item; the item's content never enters the log.
    """
    from accord.formats.label_json import label_to_dict

    d = dict(decision) if isinstance(decision, Mapping) else decision.to_dict()
    lab = dict(label) if isinstance(label, Mapping) else label_to_dict(label)
    ev: dict[str, Any] = {
        "type": "decision",
        "item": lab.get("id") or d.get("item"),
        "digest": item_digest,
        "label": lab,
        "decision": d,
        "at": at or now_iso(),
    }
    if node:
        ev["node"] = node
    return ev
