"""The journal seam: custody events, the hop's one decision, transactions that record refusals."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.engine import Connection

from accord.core.agreements import AgreementSet
from accord.core.custody import Custody
from accord.errors import InputError, IntegrityError
from accord.formats.canonical import canonical_json
from accord.node import db as st
from accord.node.config import NodeConfig, Peer, Roster
from accord.node.db.events_sql import insert_event
from accord.node.errors import Refused
from accord.node.identity import load_public_key_b64
from accord.node.policy import (
    Consent,
    Decision,
    Label,
    decide_release,
    label_to_dict,
)
from accord.node.sealing import Sealer

if TYPE_CHECKING:
    from accord.node.audit import AuditFeeder

STAGE_LIMIT = 2000  # most journal events staged into the audit log by one transaction
log = logging.getLogger("accord.node")

RECEIPT_DOMAIN = "accord-receipt/1"

CONSENT_DOMAIN = "accord-consent/1"
ORIGINATOR_REQUEST = "originator-request"


class Courier(Protocol):
    """This process's delivery worker, as the service sees it (:class:`accord.node.delivery.DeliveryWorker`)."""

    worker: str

    def reserve(self) -> bool:
        """Reserve an idle delivery thread (False: none idle; the claimer will find the message)."""
        ...

    def hand_over(self, entry: st.OutboxEntry | None) -> None:
        """Deliver ``entry`` (committed, leased to :attr:`worker`) on the reserved thread; None releases it."""
        ...


@dataclass(frozen=True)
class Caller:
    """Who is calling the API: this nation's own systems (``local``) or a pinned partner node."""

    party: str
    local: bool
    peer: Peer | None = None


class Journal:
    """The journal seam: custody events, the hop's one decision, transactions that record refusals."""

    def __init__(
        self,
        cfg: NodeConfig,
        roster: Roster,
        store: st.Store,
        agreements: AgreementSet,
        sealer: Sealer,
        receipt_key: Ed25519PrivateKey,
        feeder: AuditFeeder | None = None,
    ) -> None:
        self.cfg = cfg
        self.party = cfg.party
        self.roster = roster
        self.store = store
        self.agreements = agreements
        self.sealer = sealer
        self.receipt_key = receipt_key
        self.feeder = feeder
        self.courier: Courier | None = None  # this process's delivery worker (set by the app), if any
        self._keys: dict[str, Ed25519PublicKey] = {
            p.party: load_public_key_b64(p.receipt_key, source="roster") for p in roster.peers.values()
        }
        self._keys[self.party] = receipt_key.public_key()

    def resolve_at(self, at: dt.date | str | None, *, inbound: bool = False) -> dt.date:
        """The decision date: today (UTC) unless the node runs in what-if mode (demo, analysis).

        ``inbound``: the date a partner's message carries. A production node ignores it and decides as of
        its own today (a message queued yesterday and delivered today is judged by today's agreements).
        """
        today = dt.datetime.now(dt.UTC).date()
        if at is None or (inbound and not self.cfg.what_if):
            return today
        if isinstance(at, str):
            try:
                at = dt.date.fromisoformat(at)
            except ValueError as e:
                raise InputError("not an ISO date (YYYY-MM-DD)", field="at") from e
        if at != today and not self.cfg.what_if:
            raise InputError("decisions are made as of today; other dates need a what-if node", field="at")
        return at

    def _event(self, conn: Connection, type_: str, item_id: str | None, body: dict[str, Any]) -> int:
        """Journal a custody event (JK-R11): label, decision, digest, parties -- never the content."""
        record = {"type": type_, "node": self.party, "item_id": item_id, **body}
        row = {"type": type_, "item_id": item_id, "body": canonical_json(record).decode(), "created_at": st.now()}
        jid = insert_event(conn, row)
        if self.feeder is not None:  # the audit leaf is built from this record, not read back (issue 8)
            fresh = self.store.fresh()
            if fresh is not None:
                fresh.append((conn, jid, row, record))
        return jid

    def journal_event(self, conn: Connection, type_: str, item_id: str | None, body: dict[str, Any]) -> int:
        """Journal an event of another part of the node (people register, a person's read: issue 12) in
        ``conn``'s transaction; it reaches the audit log with the node's own events."""
        return self._event(conn, type_, item_id, body)

    def _decide(
        self,
        conn: Connection,
        label: Label,
        holder: str,
        recipient: str,
        at: dt.date,
        consents: Sequence[Consent],
        *,
        context: str,
        custody: Custody | None = None,
        purpose: str | None = None,
    ) -> Decision:
        d = self._decision(label, holder, recipient, at, consents, custody, purpose)
        self._journal_decision(conn, label, d, context)
        return d

    def _journal_decision(self, conn: Connection, label: Label, d: Decision, context: str) -> None:
        self._event(
            conn,
            "decision",
            label.id,
            {"context": context, "decision": d.to_dict(), "label": label_to_dict(label)},
        )

    def _decision(
        self,
        label: Label,
        holder: str,
        recipient: str,
        at: dt.date,
        consents: Sequence[Consent],
        custody: Custody | None = None,
        purpose: str | None = None,
    ) -> Decision:
        """The decision alone (pure: no I/O), logged when refused; the caller journals it in its transaction."""
        d = decide_release(self.agreements, label, holder, recipient, at, consents, custody, purpose)
        if not d.allowed:
            log.info(
                "%s: release %s %s->%s on %s refused: %s",
                self.party,
                label.id,
                holder,
                recipient,
                at,
                "; ".join(r.code.value for r in d.denials),
            )
        return d

    @contextmanager
    def _tx(self, *, stage: bool = False) -> Iterator[Connection]:
        """One transaction. Its custody events reach the audit log in the same commit when the answer needs
        them there (``stage``: an inbound delivery whose receipt carries evidence; every transaction with
        ``audit_sync``) -- SQLite, with an audit writer in this process (:meth:`AuditFeeder.stage`) -- and
        otherwise from the feeder's thread, batched across requests (one checkpoint for many events), or
        with ``audit_sync`` before the caller answers (PostgreSQL)."""
        staged = -1
        with self.store.tx() as conn:
            yield conn
            if (stage or self.cfg.audit_sync) and self.feeder is not None and self.store.is_sqlite:
                # One commit for the state change and its audit events (issue 8).
                staged = self.feeder.stage(conn, STAGE_LIMIT)
            elif self.feeder is not None:
                fresh = self.store.fresh()
                if fresh:  # committed, the records go to the feeder's stage in memory (issue 8, wave 5)
                    self.store.on_outcome(_hand_over(self.feeder, list(fresh)))
        # Staged all of them (fewer than the limit): every event pending in this transaction is in the log with
        # its commit, and the flush's read of the journal would find none of this answer's (issue 8, wave 5);
        # another writer's events are its own flush's or the feeder thread's, as before.
        if not 0 <= staged < STAGE_LIMIT:
            self.flush_audit()

    def flush_audit(self) -> None:
        if self.feeder is None:
            return
        if not self.cfg.audit_sync:
            return  # the feeder's thread appends in batches (group commit) every audit_poll_seconds
        try:
            self.feeder.flush()
        except Exception:  # the events stay in the journal; the feeder's thread retries
            log.exception("%s: audit log append failed", self.party)

    @contextmanager
    def _recorded_tx(self, item_id: str | None, context: str) -> Iterator[Connection]:
        """A transaction whose refusals are still recorded: a denied decision or a failed integrity check
        rolls the transaction back, then is appended to the custody trail in a transaction of its own."""
        # An inbound delivery answers with receipt evidence: its events go into the log in its own commit.
        stage = context == "inbound" and self.cfg.receipt_evidence
        try:
            with self._tx(stage=stage) as conn:
                yield conn
        except Refused as e:
            with self._tx() as conn:
                self._event(conn, "decision", item_id, {"context": context, **getattr(e, "audit_body", {})})
            raise
        except IntegrityError:
            with self._tx() as conn:
                self._event(conn, "integrity_failure", item_id, {"context": context})
            raise

    def _refuse(self, message: str, d: Decision) -> Refused:
        e = Refused(d.recipient, d, message)
        e.audit_body = {"decision": d.to_dict(), "label": label_to_dict(d.label)}  # type: ignore[attr-defined]
        return e


def _hand_over(feeder: AuditFeeder, entries: list[Any]) -> Callable[[bool], None]:
    def hook(committed: bool) -> None:
        if committed:
            feeder.hand_over(entries)

    return hook
