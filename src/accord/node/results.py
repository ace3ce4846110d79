"""Typed results at the node's service boundary, shared by the service, its HTTP API, the CLI, the console
and the SDK client (:class:`accord.node.client.NodeClient`).

Each result is a frozen dataclass. :meth:`Result.to_dict` is its JSON form -- what the API answers with,
member for member the dictionaries the service returned before (so the API and its OpenAPI description
are unchanged) -- and :meth:`Result.from_dict` reads that form back (the SDK client). A result also reads
as a mapping of its JSON form (``status["receipts"]``), so code written against the former dictionaries
keeps working; new code uses the attributes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from accord.errors import InputError

__all__ = [
    "ConsentDecided",
    "ConsentReceived",
    "ConsentRequest",
    "CustodyRecorded",
    "EventRecord",
    "Forwarded",
    "Health",
    "InboxEntry",
    "ItemStatus",
    "OutboxHop",
    "OutboxMessage",
    "ReceiptRecord",
    "RelayStatus",
    "Result",
    "StandingGranted",
    "Submitted",
]


class Result(Mapping[str, Any]):
    """Base of the node's typed results: a frozen dataclass with a JSON form.

    Subclasses list in ``_omit_none`` the members left out of the JSON form when they are None (the
    former dictionaries did not carry them).
    """

    __slots__ = ()
    _omit_none: ClassVar[frozenset[str]] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what the API answers with)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None and f.name in self._omit_none:
                continue
            out[f.name] = _json(value)
        return out

    @classmethod
    def from_dict(cls, d: object, *, strict: bool = False) -> Self:
        """Read the JSON form back: a missing member is refused; one this version does not know is ignored,
        or refused with ``strict`` (how the service builds its own results: every member is declared)."""
        if not isinstance(d, Mapping):
            raise InputError(f"a {cls.__name__} is a JSON object", source="node")
        if strict and (unknown := set(d) - {f.name for f in dataclasses.fields(cls)}):  # type: ignore[arg-type]
            raise TypeError(f"{cls.__name__} has no member {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in d:
                kwargs[f.name] = d[f.name]
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InputError(f"the node's answer has no {f.name!r}", source="node", field=f.name)
        return cls(**cls._nested(kwargs))

    @classmethod
    def _nested(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Turn nested JSON members into their result types (overridden where there are some)."""
        return kwargs

    # -- read as the mapping of the JSON form ------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def _json(value: Any) -> Any:
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


# -- releases ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Submitted(Result):
    """A release of this nation's item, decided, sealed and queued durably (or already queued) for ``next_hop``."""

    item_id: str
    status: str  # "queued" | "already-queued"
    next_hop: str
    digest: str
    decision: dict[str, Any]


@dataclass(frozen=True, eq=False)
class Forwarded(Result):
    """A held item released onward: ``relayed``, or ``held`` until the originator consents."""

    item_id: str
    status: str  # "relayed" | "held"
    decision: dict[str, Any]


# -- an item's status and custody ----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OutboxHop(Result):
    """A message about an item in the outbox: its kind, next hop, final recipient, state and attempts."""

    kind: str
    to: str
    final: str | None
    state: str
    attempts: int


@dataclass(frozen=True, eq=False)
class InboxEntry(Result):
    """A delivery of an item received here: from whom, its state, for whom in the end."""

    sender: str
    state: str
    final: str | None


@dataclass(frozen=True, eq=False)
class ReceiptRecord(Result):
    """A receipt a recipient signed for an item (with its audit evidence, when it sent some)."""

    recipient: str
    receipt: dict[str, Any]
    evidence: dict[str, Any] | None
    signature: str | None = None  # the recipient's signature over ``receipt`` (verifiable with its key)
    via: str | None = None  # the final recipient's receipt passed back by this hub (issue 10)
    same_digest: bool | None = None  # ... of exactly the bytes this node sent (a blind relay)

    _omit_none: ClassVar[frozenset[str]] = frozenset({"signature", "via", "same_digest"})


@dataclass(frozen=True, eq=False)
class ItemStatus(Result):
    """Custody of one item held here: its label, marking, messages in and out, receipts, custody record."""

    custody: dict[str, Any] | None
    item_id: str
    origin: str
    sender: str | None
    digest: str
    label: dict[str, Any]
    marking: str | None
    alternative_label: str | None
    outbox: tuple[OutboxHop, ...] = ()
    inbox: tuple[InboxEntry, ...] = ()
    receipts: tuple[ReceiptRecord, ...] = ()

    @classmethod
    def _nested(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs["outbox"] = tuple(OutboxHop.from_dict(o) for o in kwargs.get("outbox", ()))
        kwargs["inbox"] = tuple(InboxEntry.from_dict(i) for i in kwargs.get("inbox", ()))
        kwargs["receipts"] = tuple(ReceiptRecord.from_dict(r) for r in kwargs.get("receipts", ()))
        return kwargs


@dataclass(frozen=True, eq=False)
class RelayStatus(Result):
    """A hub's status of an item it relayed blind (issue 10): who sent it, to whom, when, in which state, its
    route and receipts; never its label or content (the hub has neither key nor item)."""

    item_id: str
    relay: str  # "blind"
    state: str  # held | forwarded | delivered | denied
    originator: str
    classification: str | None
    sender: str
    to: str
    next_hop: str
    at: str
    digest: str
    route: tuple[str, ...]
    agreements: tuple[str, ...]
    received_at: str | None
    forwarded_at: str | None
    decided_at: str | None
    decided_by: str | None
    consent_request: str | None
    relays: tuple[dict[str, Any], ...] = ()
    outbox: tuple[dict[str, Any], ...] = ()
    receipts: tuple[ReceiptRecord, ...] = ()

    @classmethod
    def _nested(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        for k in ("route", "agreements", "relays", "outbox"):
            kwargs[k] = tuple(kwargs.get(k, ()))
        kwargs["receipts"] = tuple(ReceiptRecord.from_dict(r) for r in kwargs.get("receipts", ()))
        return kwargs


@dataclass(frozen=True, eq=False)
class CustodyRecorded(Result):
    """A change of custody recorded (JK-R13, JK-R26); the JSON form is the custody record's."""

    custody: Any  # accord.core.custody_records.Custody at the service; its JSON form (a dict) in the SDK

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.custody) if isinstance(self.custody, Mapping) else self.custody.to_dict()
        return out

    @property
    def state(self) -> str:
        """The custody state after the change (HELD, RETURNED, DESTROYED, COMPROMISED)."""
        return str(self.to_dict()["state"])

    @classmethod
    def from_dict(cls, d: object, *, strict: bool = False) -> Self:  # noqa: ARG003 - the record's own members
        if not isinstance(d, Mapping):
            raise InputError("a custody record is a JSON object", source="node")
        return cls(dict(d))  # the SDK sees the record's JSON form


# -- consents -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ConsentRequest(Result):
    """A consent request: ``incoming`` (a holder asks this nation, the originator) or ``outgoing`` (ours)."""

    request_id: str
    role: str
    item_id: str
    originator: str
    holder: str
    recipient: str
    digest: str
    at_date: str
    state: str  # pending | approved | denied
    decided_by: str | None
    reason: str | None
    created_at: str | None
    decided_at: str | None
    label: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_row(cls, row: Mapping[str, Any], label: dict[str, Any]) -> ConsentRequest:
        """From a ``consent_requests`` row and its parsed label."""
        return cls(
            request_id=row["request_id"],
            role=row["role"],
            item_id=row["item_id"],
            originator=row["originator"],
            holder=row["holder"],
            recipient=row["recipient"],
            digest=row["digest"],
            at_date=row["at_date"],
            state=row["state"],
            decided_by=row["decided_by"],
            reason=row["reason"],
            created_at=_iso(row["created_at"]),
            decided_at=_iso(row["decided_at"]),
            label=label,
        )


@dataclass(frozen=True, eq=False)
class ConsentDecided(Result):
    """Where a consent request stands after a decision (and, at a holder, what became of the item)."""

    _omit_none: ClassVar[frozenset[str]] = frozenset({"item"})
    request_id: str
    state: str
    item: str | None = None  # at the holder: "relayed", "held", "denied", "missing"


@dataclass(frozen=True, eq=False)
class StandingGranted(Result):
    """A standing consent signed and queued for its holder."""

    consent: dict[str, Any]
    status: str


@dataclass(frozen=True, eq=False)
class ConsentReceived(Result):
    """A standing consent stored at the holder, and the held items it released."""

    consent: str
    released: tuple[str, ...] = ()

    @classmethod
    def _nested(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs["released"] = tuple(kwargs.get("released", ()))
        return kwargs


# -- listings and health --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OutboxMessage(Result):
    """A message in the outbox (its body left out): what, to whom, its state, attempts and last error."""

    id: int
    idem_key: str
    kind: str  # delivery | consent_request | consent_decision | consent | ...
    item_id: str | None
    recipient: str  # the next hop
    final_recipient: str | None
    state: str  # pending | delivered | failed
    attempts: int
    last_error: str | None
    leased_by: str | None

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> OutboxMessage:
        """From a row of :meth:`accord.node.db.outbox.Store.outbox_rows`."""
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True, eq=False)
class EventRecord(Result):
    """A journal event as the API lists it (``body`` is its JSON text)."""

    id: int
    type: str
    item_id: str | None
    body: str


@dataclass(frozen=True, eq=False)
class Health(Result):
    """Liveness for any authenticated caller; the node's own systems also see the audit alarm and the storage
    alarm (disk full / database away: :class:`accord.node.db.faults.StorageAlarm`)."""

    _omit_none: ClassVar[frozenset[str]] = frozenset({"audit", "storage"})
    party: str
    ok: bool
    caller: str
    audit: dict[str, Any] | None = None
    storage: dict[str, Any] | None = None
