"""The node's logic: submit, deliver, receive, relay, consent. HTTP-free; the API and the CLI call it.

Exactly once: every message leaves through the durable outbox with an idempotency key; the recipient
stores a delivery once per (item id, sender) and answers a replay with the receipt it already signed;
the sender stores that receipt and marks the message delivered in one transaction. A crash anywhere
leaves either the message pending (it is sent again, harmlessly) or delivered with its receipt.

Rules (ids from shared/domain/agreements.md): the decision engine applies JK-R1..R6, T-R1..R6 and the
lifecycle; the node adds what only a node can do: the recipient re-runs the sender's decision (JK-R6,
"a recipient refuses what the agreements do not allow, whatever the sender says"), stamps its own
equivalent marking (JK-R4), keeps a custody trail (JK-R11) and holds relayed items until the originator
approves (T-R5).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from accord.core.agreements import AgreementSet
from accord.errors import AccordError, InputError, IntegrityError
from accord.node import store as st
from accord.node.canon import canonical, sha256_hex, sign, verify
from accord.node.config import NodeConfig, Peer, Roster, check_party
from accord.node.errors import Busy, Conflict, NotFound, PeerRefused, Refused
from accord.node.identity import load_public_key_b64
from accord.node.policy import (
    Consent,
    Decision,
    Label,
    agreements_in_force,
    consent_from_dict,
    consent_to_dict,
    decide_release,
    label_from_dict,
    label_to_dict,
)
from accord.node.sealing import Sealer
from accord.release import plan_from_decisions, plan_rewrap
from accord.sealed.item import VerifiedItem

if TYPE_CHECKING:
    from accord.node.audit import AuditFeeder

log = logging.getLogger("accord.node")

RECEIPT_DOMAIN = "accord-receipt/1"

# Statements of the release path, built once (SQLAlchemy then only binds parameters: no per-call construction).
_INSERT_EVENT = st.events.insert()
_INSERT_ITEM = st.items.insert()
_INSERT_INBOX = st.inbox.insert()
_ITEM_LABEL = select(st.items.c.label_json).where(st.items.c.item_id == bindparam("item_id"))
_PRIOR_DELIVERY = (
    select(st.inbox).where(st.inbox.c.item_id == bindparam("item_id")).where(st.inbox.c.sender == bindparam("sender"))
)
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


class NodeService:
    """One nation's node over its store. Thread-safe: all state is in the database."""

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

    # ------------------------------------------------------------------------------------------------
    # helpers

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
        row = {"type": type_, "item_id": item_id, "body": canonical(record).decode(), "created_at": st.now()}
        res = conn.execute(_INSERT_EVENT, row)
        return int(res.inserted_primary_key[0])  # type: ignore[index]

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
    ) -> Decision:
        d = self._decision(label, holder, recipient, at, consents)
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
        self, label: Label, holder: str, recipient: str, at: dt.date, consents: Sequence[Consent]
    ) -> Decision:
        """The decision alone (pure: no I/O), logged when refused; the caller journals it in its transaction."""
        d = decide_release(self.agreements, label, holder, recipient, at, consents)
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
    def _tx(self) -> Iterator[Connection]:
        """One transaction; once committed, its events go into the audit log before the caller answers."""
        with self.store.tx() as conn:
            yield conn
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
        try:
            with self._tx() as conn:
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
        e = Refused(message, decision=d.to_dict())
        e.audit_body = {"decision": d.to_dict(), "label": label_to_dict(d.label)}  # type: ignore[attr-defined]
        return e

    def sign_consent(self, c: Consent) -> dict[str, Any]:
        body = consent_to_dict(c)
        return {"consent": body, "signer": self.party, "sig": sign(self.receipt_key, CONSENT_DOMAIN, body)}

    def verify_consent(self, doc: object) -> Consent:
        """A consent document signed by its originator's node key (from the roster, never from the doc)."""
        if not isinstance(doc, dict) or not isinstance(doc.get("consent"), dict):
            raise InputError("malformed consent document", field="consents")
        c = consent_from_dict(doc["consent"])
        pub = self._keys.get(c.originator)
        if pub is None or doc.get("signer") != c.originator:
            raise IntegrityError()
        verify(pub, CONSENT_DOMAIN, doc["consent"], str(doc.get("sig", "")))
        return c

    def _held_consents(self, conn: Connection, holder: str) -> list[tuple[Consent, dict[str, Any]]]:
        out = []
        for r in conn.execute(select(st.consents.c.doc).where(st.consents.c.holder == holder)):
            doc = json.loads(r.doc)
            out.append((consent_from_dict(doc["consent"]), doc))
        return out

    # ------------------------------------------------------------------------------------------------
    # peers

    def identify(self, fingerprint: str | None) -> Caller:
        """Map the TLS client certificate (pinned) to a caller; unknown certificates are refused."""
        own = self._own_fingerprint()
        if fingerprint is not None and fingerprint == own:
            return Caller(party=self.party, local=True)
        peer = self.roster.by_fingerprint(fingerprint) if fingerprint else None
        if peer is None:
            log.warning("%s: refused a client whose certificate is not pinned in the roster", self.party)
            raise PeerRefused("client certificate not pinned in this node's roster")
        return Caller(party=peer.party, local=False, peer=peer)

    def _own_fingerprint(self) -> str:
        if not hasattr(self, "_own_fp"):
            from accord.node.identity import cert_fingerprint

            self._own_fp = cert_fingerprint(self.cfg.cert_file.read_bytes())
        return self._own_fp

    def admit(self, caller: Caller, at: dt.date) -> Peer:
        """A peer may talk to this node only if both are parties to an agreement in force on ``at``."""
        if caller.local or caller.peer is None:
            raise PeerRefused("this endpoint is for partner nodes")
        in_force = agreements_in_force(self.agreements, self.party, caller.party, at)
        if not in_force:
            log.warning(
                "%s: refused peer %s: no agreement in force between %s and %s on %s",
                self.party,
                caller.party,
                self.party,
                caller.party,
                at,
            )
            raise PeerRefused(
                f"no agreement in force between {self.party} and {caller.party} on {at}",
                peer=caller.party,
                at=at.isoformat(),
            )
        return caller.peer

    # ------------------------------------------------------------------------------------------------
    # outbound

    def submit(self, label_doc: object, payload: bytes, to: str, at: dt.date | str | None = None) -> dict[str, Any]:
        """Decide, seal and queue a release of this nation's own item. Durable before it returns."""
        to = check_party(to, source="request", field="to")
        day = self.resolve_at(at)
        label = label_from_dict(label_doc)
        if label.originator != self.party:
            raise InputError(
                f"this node releases {self.party}'s items; a held item is forwarded instead",
                field="label.originator",
            )
        if label.id is None:
            import dataclasses

            label = dataclasses.replace(label, id=f"{self.party.lower()}-{uuid.uuid4()}")
        assert label.id is not None
        item_id = label.id
        # Decide and seal before the write transaction (the seal's ML-DSA-87 signature and HPKE are the bulk of
        # the CPU time; no other writer of this database should wait for them). What they raise is raised
        # inside the transaction below, so that a refusal is journaled exactly as if it had happened there.
        d = self._decision(label, self.party, to, day, ())
        hop = d.route[1] if d.allowed else to
        consents: list[dict[str, Any]] = []
        sealed = b""
        failure: Exception | None = None
        if d.allowed:
            try:
                if len(d.route) > 2:
                    # T-R5: the originator's own request to reach `to` through the hub is its approval of the
                    # relay; it travels with the item as a consent signed by this node.
                    consents.append(
                        self.sign_consent(
                            Consent(
                                id=f"{ORIGINATOR_REQUEST}:{item_id}:{hop}->{to}",
                                originator=self.party,
                                holder=hop,
                                recipient=to,
                                granted=day,
                                until=day,
                                item=item_id,
                            )
                        )
                    )
                plan = plan_from_decisions(
                    label, [d], holder=self.party, at=day, agreements=self.agreements, relay="rewrap"
                )
                sealed = self.sealer.seal(payload, label, to=to, at=day, plan=plan)
            except Exception as e:  # re-raised in the transaction
                failure = e
        digest = sha256_hex(sealed)
        # A delivery thread of this process with nothing to do takes the message straight from this transaction
        # (leased to it in the same commit), instead of a claim transaction after a wake-up.
        courier = self.courier if self.courier is not None and self.courier.reserve() else None
        entry: st.OutboxEntry | None = None
        try:
            out = self._submit_tx(label, item_id, to, day, d, hop, sealed, digest, consents, failure, courier)
            entry = out.pop("entry")
        finally:
            if courier is not None:
                courier.hand_over(entry)  # None: gives the reserved thread back
        return out

    def _submit_tx(
        self,
        label: Label,
        item_id: str,
        to: str,
        day: dt.date,
        d: Decision,
        hop: str,
        sealed: bytes,
        digest: str,
        consents: list[dict[str, Any]],
        failure: Exception | None,
        courier: Courier | None,
    ) -> dict[str, Any]:
        with self._recorded_tx(item_id, "submit") as conn:
            self._journal_decision(conn, label, d, "submit")
            if not d.allowed:
                raise self._refuse(f"release of {item_id} to {to} refused", d)
            if failure is not None:
                raise failure
            existing = conn.execute(_ITEM_LABEL, {"item_id": item_id}).first()
            if existing is None:
                conn.execute(
                    _INSERT_ITEM,
                    {
                        "item_id": item_id,
                        "originator": self.party,
                        "label_json": canonical(label_to_dict(label)).decode(),
                        "digest": digest,
                        "sealed": sealed,
                        "origin": "local",
                        "sender": None,
                        "marking": label.marking,
                        "created_at": st.now(),
                    },
                )
            elif json.loads(existing.label_json) != label_to_dict(label):
                raise Conflict(f"item {item_id} already exists with another label")
            lease = (courier.worker, self.cfg.lease_seconds) if courier is not None else None
            entry = self._enqueue_delivery(conn, item_id, hop, to, day, sealed, consents, lease=lease)
            self._event(
                conn,
                "release",
                item_id,
                {
                    "to": to,
                    "next_hop": hop,
                    "digest": digest,
                    "route": list(d.route),
                    "agreements": list(d.agreements),
                },
            )
        return {
            "item_id": item_id,
            "status": "queued" if entry is not None else "already-queued",
            "next_hop": hop,
            "decision": d.to_dict(),
            "digest": digest,
            "entry": entry,
        }

    def _enqueue_delivery(
        self,
        conn: Connection,
        item_id: str,
        hop: str,
        final: str,
        day: dt.date,
        sealed: bytes,
        consents: list[dict[str, Any]],
        *,
        lease: tuple[str, float] | None = None,
    ) -> st.OutboxEntry | None:
        env = {
            "item_id": item_id,
            "sender": self.party,
            "final_recipient": final,
            "at": day.isoformat(),
            "sealed": base64.b64encode(sealed).decode(),
            "consents": consents,
        }
        return self.store.enqueue_entry(
            conn,
            lease=lease,
            idem_key=f"delivery:{item_id}:{self.party}->{hop}",
            kind="delivery",
            recipient=hop,
            body=canonical(env),
            at_date=day.isoformat(),
            item_id=item_id,
            final_recipient=final,
        )

    def forward(self, item_id: str, to: str, at: dt.date | str | None = None) -> dict[str, Any]:
        """Release an item this node holds (received from a partner) onward: the third-party rule applies."""
        to = check_party(to, source="request", field="to")
        day = self.resolve_at(at)
        with self._recorded_tx(item_id, "forward") as conn:
            row = conn.execute(select(st.items).where(st.items.c.item_id == item_id)).mappings().first()
            if row is None:
                raise NotFound(f"no item {item_id} held here")
            if row["origin"] == "local":
                raise InputError("this node's own item: submit it to the new recipient instead", field="item_id")
            label = label_from_dict(json.loads(row["label_json"]))
            outcome, d = self._relay_or_hold(conn, label, item_id, bytes(row["sealed"]), to, day, [])
            if outcome == "denied":
                raise self._refuse(f"release of {item_id} to {to} refused", d)
        return {"item_id": item_id, "status": outcome, "decision": d.to_dict()}

    def _relay_or_hold(
        self,
        conn: Connection,
        label: Label,
        item_id: str,
        sealed: bytes,
        to: str,
        day: dt.date,
        carried: list[tuple[Consent, dict[str, Any]]],
        item: VerifiedItem | None = None,
    ) -> tuple[str, Decision]:
        """As holder: pass the item on if allowed; hold it and ask the originator if only consent lacks.

        ``item``: the verified form of ``sealed`` when the caller has it (an inbound hop: no second check).
        """
        pairs = carried + self._held_consents(conn, self.party)
        d = self._decide(conn, label, self.party, to, day, [c for c, _ in pairs], context="relay")
        if d.allowed:
            hop = d.route[1]
            used = [doc for c, doc in pairs if c.id in d.consents_used]
            verified = item if item is not None else self.sealer.verify(sealed)
            plan = plan_rewrap(verified, hub=self.party, to=hop, at=day, decision=d)  # this hop's one decision
            blob = self.sealer.rewrap(verified, plan).to_bytes()
            self._enqueue_delivery(conn, item_id, hop, to, day, blob, used)
            self._event(
                conn,
                "release",
                item_id,
                {
                    "to": to,
                    "next_hop": hop,
                    "digest": sha256_hex(blob),
                    "route": list(d.route),
                    "consents": list(d.consents_used),
                },
            )
            conn.execute(
                update(st.inbox)
                .where(st.inbox.c.item_id == item_id)
                .where(st.inbox.c.final_recipient == to)
                .where(st.inbox.c.state.in_(("stored", "held")))
                .values(state="relayed")
            )
            return "relayed", d
        if d.awaiting_consent:
            request_id = f"cr:{item_id}:{self.party}->{to}"
            exists = conn.execute(
                select(st.consent_requests.c.state).where(st.consent_requests.c.request_id == request_id)
            ).first()
            if exists is None:
                body = {
                    "request_id": request_id,
                    "item_id": item_id,
                    "originator": label.originator,
                    "holder": self.party,
                    "recipient": to,
                    "label": label_to_dict(label),
                    "digest": sha256_hex(sealed),
                    "at": day.isoformat(),
                    "reasons": [r.to_dict() for r in d.denials],
                }
                conn.execute(
                    st.consent_requests.insert().values(
                        request_id=request_id,
                        role="outgoing",
                        item_id=item_id,
                        originator=label.originator,
                        holder=self.party,
                        recipient=to,
                        label_json=canonical(label_to_dict(label)).decode(),
                        digest=sha256_hex(sealed),
                        at_date=day.isoformat(),
                        state="pending",
                        created_at=st.now(),
                    )
                )
                self.store.enqueue(
                    conn,
                    idem_key=f"consent_request:{request_id}",
                    kind="consent_request",
                    recipient=label.originator,
                    body=canonical(body),
                    at_date=day.isoformat(),
                    item_id=item_id,
                )
                self._event(conn, "consent_requested", item_id, {"request_id": request_id, "to": to})
            conn.execute(
                update(st.inbox)
                .where(st.inbox.c.item_id == item_id)
                .where(st.inbox.c.state == "stored")
                .where(st.inbox.c.final_recipient == to)
                .values(state="held")
            )
            return "held", d
        return "denied", d

    def acknowledged(self, entry: st.OutboxEntry, answer: dict[str, Any]) -> None:
        """A peer accepted an outbox message: store its signed receipt (deliveries) and mark it delivered."""
        receipt: Any = None
        if entry.kind == "delivery":  # every check before the write transaction; a failed one changes nothing
            env = json.loads(entry.body)
            digest = sha256_hex(base64.b64decode(env["sealed"]))
            receipt, sig = answer.get("receipt"), answer.get("signature")
            pub = self._keys.get(entry.recipient)
            if not isinstance(receipt, dict) or not isinstance(sig, str) or pub is None:
                raise IntegrityError()
            verify(pub, RECEIPT_DOMAIN, receipt, sig)
            expect = {
                "item_id": entry.item_id,
                "digest": digest,
                "recipient": entry.recipient,
                "sender": self.party,
            }
            if any(receipt.get(k) != v for k, v in expect.items()):
                raise IntegrityError()
            evidence = answer.get("evidence")
            checked = None
            if evidence is not None:
                checked = self.check_evidence(entry.recipient, entry.item_id or "", digest, evidence)
        with self._tx() as conn:
            if entry.kind == "delivery":
                st.insert_ignore_duplicate(
                    conn,
                    st.receipts,
                    {
                        "item_id": entry.item_id,
                        "recipient": entry.recipient,
                        "receipt_json": canonical(receipt).decode(),
                        "receipt_sig": sig,
                        "evidence": json.dumps(evidence, sort_keys=True, ensure_ascii=False) if checked else None,
                        "stored_at": st.now(),
                    },
                )
                self._event(
                    conn,
                    "receipt",
                    entry.item_id,
                    {"receipt": receipt, "signature": sig, "recipient_logged": checked},
                )
            self.store.mark_delivered(conn, entry.id)

    def check_evidence(self, recipient: str, item_id: str, digest: str, evidence: object) -> dict[str, Any] | None:
        """Check that the recipient logged this delivery: its signed audit checkpoint (against the roster's
        verifier key) and the inclusion proof of an event for this item, digest and sender.

        Returns what was proven (log index, tree size) or None when the recipient's audit key is unknown.
        Raises IntegrityError when the evidence does not prove it.
        """
        from accord.audit.errors import MalformedNoteError
        from accord.audit.note import Checkpoint, parse_note, parse_vkey
        from accord.audit.receipt import ReceiptEvidence, verify_receipt_evidence
        from accord.node.audit import origin

        peer = self.roster.peers.get(recipient)
        if peer is None or not peer.audit_vkey:
            return None
        try:
            ev = ReceiptEvidence.from_json(json.dumps(evidence))
            event = verify_receipt_evidence(ev, [parse_vkey(peer.audit_vkey)], origin=origin(recipient))
            size = Checkpoint.parse(parse_note(ev.checkpoint)[0]).size
        except (MalformedNoteError, InputError) as e:
            raise IntegrityError() from e
        want = {
            "item": item_id,
            "digest": f"sha256:{digest}",
            "node": recipient,
            "sender": self.party,
            "node_event": "delivery",
        }
        if any(event.get(k) != v for k, v in want.items()):
            raise IntegrityError()
        return {"index": ev.index, "size": size}

    def refused_by_peer(self, entry: st.OutboxEntry, worker: str, problem: str) -> None:
        self.store.mark_retry(entry.id, worker, problem, 0, give_up=True)
        with self._tx() as conn:
            self._event(
                conn,
                "delivery_refused",
                entry.item_id,
                {"to": entry.recipient, "kind": entry.kind, "problem": problem},
            )

    # ------------------------------------------------------------------------------------------------
    # inbound

    def receive_delivery(self, caller: Caller, env: dict[str, Any]) -> dict[str, Any]:
        """Verify, re-decide from the sender's side, mark, store and sign a receipt. Replays store once.

        With an audit writer in this process, the answer also carries receipt evidence: the audit log's
        signed checkpoint and the inclusion proof of this delivery's event (issue 5).
        """
        try:
            out, journal_id = self._receive_delivery(caller, env)
        except DBIntegrityError as e:  # a concurrent delivery of the same item won the unique key
            raise Busy("the same delivery is being stored concurrently; retry") from e
        evidence = self._evidence(journal_id)
        if evidence is not None:
            out["evidence"] = evidence
        return out

    def _evidence(self, journal_id: int | None) -> dict[str, Any] | None:
        if self.feeder is None or not self.cfg.receipt_evidence or journal_id is None:
            return None
        try:
            idx = self.feeder.index_of(journal_id)
            if idx is None:
                return None
            ev: dict[str, Any] = json.loads(self.feeder.log.receipt_evidence(int(idx)).to_json())
            return ev
        except Exception:  # the receipt stands without evidence; the event stays journaled
            log.exception("%s: no receipt evidence", self.party)
            return None

    def _receive_delivery(self, caller: Caller, env: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
        day = self.resolve_at(env.get("at"), inbound=True)
        peer = self.admit(caller, day)
        item_id = str(env["item_id"])
        if env.get("sender") != peer.party:
            raise PeerRefused("the envelope's sender is not the authenticated peer")
        final = check_party(env.get("final_recipient"), source="delivery", field="final_recipient")
        try:
            sealed = base64.b64decode(str(env["sealed"]), validate=True)
        except (binascii.Error, ValueError) as e:
            raise InputError("sealed is not base64", field="sealed") from e
        digest = sha256_hex(sealed)
        # Verify, decide and mark before the write transaction (open and the marking's ML-DSA-87 signature are
        # most of the CPU time), unless this is a replay. What they raise is raised inside the transaction,
        # so that a failed check or a refusal is journaled exactly as if it had happened there.
        work: _Inbound | None = None
        if self._prior_delivery(None, item_id, peer.party) is None:
            work = self._inbound_work(peer.party, item_id, final, day, sealed, env)
        with self._recorded_tx(item_id, "inbound") as conn:
            prior = self._prior_delivery(conn, item_id, peer.party)
            if prior is not None:
                if prior["digest"] != digest:
                    raise Conflict(f"item {item_id} was already delivered by {peer.party} with other content")
                self._event(conn, "replay", item_id, {"sender": peer.party, "digest": digest})
                return {
                    "receipt": json.loads(prior["receipt_json"]),
                    "signature": prior["receipt_sig"],
                    "status": prior["state"],
                    "replay": True,
                }, prior["journal_id"]
            if work is None:  # stored and gone since the first look: cannot happen (inbox rows stay); be safe
                work = self._inbound_work(peer.party, item_id, final, day, sealed, env)
            if work.failure is not None:
                raise work.failure
            label, d, carried, marking, alt = work.label, work.decision, work.carried, work.marking, work.alt
            held = work.held
            assert label is not None and d is not None
            self._journal_decision(conn, label, d, "inbound")
            if not d.allowed or len(d.route) < 2 or d.route[1] != self.party:
                raise self._refuse(f"delivery of {item_id} from {peer.party} refused", d)
            if conn.execute(_ITEM_LABEL, {"item_id": item_id}).first() is None:
                conn.execute(
                    _INSERT_ITEM,
                    {
                        "item_id": item_id,
                        "originator": label.originator,
                        "label_json": canonical(label_to_dict(label)).decode(),
                        "digest": digest,
                        "sealed": held,
                        "origin": "received",
                        "sender": peer.party,
                        "marking": marking,
                        "alt_label_xml": alt,
                        "created_at": st.now(),
                    },
                )
            received_at = st.now()
            receipt = {
                "v": 1,
                "item_id": item_id,
                "digest": digest,
                "sender": peer.party,
                "recipient": self.party,
                "received_at": received_at.isoformat(),
            }
            sig = sign(self.receipt_key, RECEIPT_DOMAIN, receipt)
            journal_id = self._event(
                conn,
                "delivery",
                item_id,
                {"sender": peer.party, "digest": digest, "marking": marking, "label": label_to_dict(label)},
            )
            conn.execute(
                _INSERT_INBOX,
                {
                    "item_id": item_id,
                    "sender": peer.party,
                    "idem_key": str(env.get("idem_key", "")),
                    "final_recipient": final,
                    "at_date": day.isoformat(),
                    "digest": digest,
                    "state": "stored",
                    "receipt_json": canonical(receipt).decode(),
                    "receipt_sig": sig,
                    "journal_id": journal_id,
                    "received_at": received_at,
                },
            )
            status = "stored"
            if final != self.party:
                status, _ = self._relay_or_hold(conn, label, item_id, held, final, day, carried, work.item)
        log.info("%s: received %s from %s (%s)", self.party, item_id, peer.party, status)
        return {"receipt": receipt, "signature": sig, "status": status, "replay": False}, journal_id

    def _prior_delivery(self, conn: Connection | None, item_id: str, sender: str) -> Any:
        args = {"item_id": item_id, "sender": sender}
        if conn is not None:
            return conn.execute(_PRIOR_DELIVERY, args).mappings().first()
        with self.store.engine.connect() as c:  # a read: WAL readers neither wait for nor block the writer
            return c.execute(_PRIOR_DELIVERY, args).mappings().first()

    def _inbound_work(
        self, sender: str, item_id: str, final: str, day: dt.date, sealed: bytes, env: dict[str, Any]
    ) -> _Inbound:
        """Open (seal and label binding), the decision from the sender's side, this nation's marking: no I/O."""
        w = _Inbound()
        try:
            item = self.sealer.verify(sealed)  # the one verification of this hop
            opened = self.sealer.open(item)  # IntegrityError if anything is off
            label = opened.label
            if label.id != item_id:
                raise IntegrityError()
            w.carried = [(self.verify_consent(doc), doc) for doc in env.get("consents", [])]
            # Re-run the decision from the sender's side (JK-R6): refuse what the agreements do not allow.
            w.label = label
            w.decision = d = self._decision(label, sender, final, day, [c for c, _ in w.carried])
            if not d.allowed or len(d.route) < 2 or d.route[1] != self.party:
                return w
            w.marking = d.markings.get(self.party)
            w.alt = _alternative_label(label, self.party, w.marking)
            w.held, w.item = sealed, item
            if w.alt is not None:
                try:  # JK-R4: this nation's marking travels in the container, beside the originator's label
                    w.item = self.sealer.add_marking(item, w.alt.encode())
                    w.held = w.item.to_bytes()
                except AccordError:
                    w.held, w.item = sealed, item
        except Exception as e:  # re-raised in the transaction
            w.failure = e
        return w

    # ------------------------------------------------------------------------------------------------
    # consent

    def receive_consent_request(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """A holder asks this node, the originator, to approve an onward release (T-R5, JK-R6)."""
        day = self.resolve_at(body.get("at"), inbound=True)
        peer = self.admit(caller, day)
        if body.get("originator") != self.party or body.get("holder") != peer.party:
            raise PeerRefused("a consent request goes from the holder to the originator")
        label = label_from_dict(body.get("label"))
        if label.originator != self.party or label.id != body.get("item_id"):
            raise InputError("the label does not match the request", field="label")
        recipient = check_party(body.get("recipient"), source="consent request", field="recipient")
        with self._tx() as conn:
            ok = st.insert_ignore_duplicate(
                conn,
                st.consent_requests,
                {
                    "request_id": str(body["request_id"]),
                    "role": "incoming",
                    "item_id": label.id,
                    "originator": self.party,
                    "holder": peer.party,
                    "recipient": recipient,
                    "label_json": canonical(label_to_dict(label)).decode(),
                    "digest": str(body.get("digest", "")),
                    "at_date": day.isoformat(),
                    "state": "pending",
                    "created_at": st.now(),
                },
            )
            if ok:
                self._event(
                    conn,
                    "consent_request",
                    label.id,
                    {"request_id": body["request_id"], "holder": peer.party, "recipient": recipient},
                )
        return {"request_id": body["request_id"], "state": "pending"}

    def consent_requests(self, state: str | None = None) -> list[dict[str, Any]]:
        where = [st.consent_requests.c.state == state] if state else []
        rows = self.store.rows(st.consent_requests, *where)
        return [
            {
                k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                for k, v in r.items()
                if k not in ("id", "label_json")
            }
            | {"label": json.loads(r["label_json"])}
            for r in rows
        ]

    def decide_consent(
        self, request_id: str, approve: bool, officer: str, reason: str = "", until: dt.date | None = None
    ) -> dict[str, Any]:
        """The originator's security officer approves or denies a holder's request."""
        if not officer.strip():
            raise InputError("the deciding officer must be named", field="officer")
        with self._tx() as conn:
            row = _consent_request(conn, request_id, "incoming")
            if row["state"] != "pending":
                raise Conflict(f"consent request {request_id} is already {row['state']}")
            at = dt.date.fromisoformat(row["at_date"])
            msg: dict[str, Any] = {
                "request_id": request_id,
                "approved": approve,
                "officer": officer,
                "reason": reason,
                "at": row["at_date"],
            }
            if approve:
                c = Consent(
                    id=f"consent:{request_id}",
                    originator=self.party,
                    holder=row["holder"],
                    recipient=row["recipient"],
                    granted=at,
                    until=until or at,
                    item=row["item_id"],
                )
                msg["consent"] = self.sign_consent(c)
            conn.execute(
                update(st.consent_requests)
                .where(st.consent_requests.c.id == row["id"])
                .values(
                    state="approved" if approve else "denied",
                    decided_by=officer,
                    reason=reason,
                    decided_at=st.now(),
                )
            )
            self.store.enqueue(
                conn,
                idem_key=f"consent_decision:{request_id}",
                kind="consent_decision",
                recipient=row["holder"],
                body=canonical(msg),
                at_date=row["at_date"],
                item_id=row["item_id"],
            )
            self._event(
                conn,
                "consent",
                row["item_id"],
                {"request_id": request_id, "approved": approve, "officer": officer, "reason": reason},
            )
        return {"request_id": request_id, "state": "approved" if approve else "denied"}

    def grant_standing(
        self,
        holder: str,
        recipient: str,
        topics: Sequence[str],
        granted: dt.date,
        until: dt.date,
        officer: str,
    ) -> dict[str, Any]:
        """A standing consent (e.g. TISA missile warnings): sent to the holder, applies there at once."""
        c = Consent(
            id=f"standing:{self.party}:{holder}->{recipient}:{'+'.join(sorted(topics))}:{granted}",
            originator=self.party,
            holder=check_party(holder, source="consent", field="holder"),
            recipient=check_party(recipient, source="consent", field="recipient"),
            granted=granted,
            until=until,
            topics=frozenset(topics),
            standing=True,
        )
        doc = self.sign_consent(c)
        with self._tx() as conn:
            self.store.enqueue(
                conn,
                idem_key=f"consent:{c.id}",
                kind="consent",
                recipient=holder,
                body=canonical({"consent": doc, "officer": officer, "at": granted.isoformat()}),
                at_date=granted.isoformat(),
            )
            self._event(conn, "consent", None, {"consent": consent_to_dict(c), "officer": officer})
        return {"consent": consent_to_dict(c), "status": "queued"}

    def receive_consent_decision(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """The originator answered our request: record it, and pass the item on if approved."""
        day = self.resolve_at(body.get("at"), inbound=True)
        peer = self.admit(caller, day)
        request_id = str(body.get("request_id"))
        with self._tx() as conn:
            row = _consent_request(conn, request_id, "outgoing")
            if row["originator"] != peer.party:
                raise PeerRefused("only the originator decides on its items")
            if row["state"] != "pending":
                return {"request_id": request_id, "state": row["state"]}
            approved = bool(body.get("approved"))
            if approved:
                c = self.verify_consent(body.get("consent"))
                if c.originator != peer.party or c.holder != self.party:
                    raise InputError("consent does not match the request", field="consent")
                self._store_consent(conn, c, body["consent"], str(body.get("officer", "")))
            conn.execute(
                update(st.consent_requests)
                .where(st.consent_requests.c.id == row["id"])
                .values(
                    state="approved" if approved else "denied",
                    decided_by=str(body.get("officer", "")),
                    reason=str(body.get("reason", "")),
                    decided_at=st.now(),
                )
            )
            self._event(conn, "consent_decision", row["item_id"], {"request_id": request_id, "approved": approved})
            status = "denied"
            if approved:
                status = self._release_held(conn, row)
            else:
                conn.execute(
                    update(st.inbox)
                    .where(st.inbox.c.item_id == row["item_id"])
                    .where(st.inbox.c.state == "held")
                    .values(state="denied")
                )
        return {"request_id": request_id, "state": "approved" if approved else "denied", "item": status}

    def receive_consent(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """A standing consent from an originator: store it and release the held items it covers."""
        day = self.resolve_at(body.get("at"), inbound=True)
        peer = self.admit(caller, day)
        c = self.verify_consent(body.get("consent"))
        if c.originator != peer.party or c.holder != self.party:
            raise PeerRefused("a consent comes from the originator to the holder it names")
        released = []
        with self._tx() as conn:
            self._store_consent(conn, c, body["consent"], str(body.get("officer", "")))
            for row in (
                conn.execute(
                    select(st.consent_requests)
                    .where(st.consent_requests.c.role == "outgoing")
                    .where(st.consent_requests.c.state == "pending")
                    .where(st.consent_requests.c.originator == peer.party)
                )
                .mappings()
                .all()
            ):
                if self._release_held(conn, row) == "relayed":
                    conn.execute(
                        update(st.consent_requests)
                        .where(st.consent_requests.c.id == row["id"])
                        .values(state="approved", decided_by=f"standing consent {c.id}", decided_at=st.now())
                    )
                    released.append(row["item_id"])
        return {"consent": c.id, "released": released}

    def _store_consent(self, conn: Connection, c: Consent, doc: dict[str, Any], officer: str) -> None:
        st.insert_ignore_duplicate(
            conn,
            st.consents,
            {
                "consent_id": c.id,
                "originator": c.originator,
                "holder": c.holder,
                "recipient": c.recipient,
                "item_id": c.item,
                "topics_json": json.dumps(sorted(c.topics)),
                "standing": c.standing,
                "granted_by": officer or c.originator,
                "valid_from": c.granted.isoformat(),
                "valid_until": c.until.isoformat(),
                "doc": canonical(doc).decode(),
                "created_at": st.now(),
            },
        )

    def _release_held(self, conn: Connection, req: Any) -> str:
        item = conn.execute(select(st.items).where(st.items.c.item_id == req["item_id"])).mappings().first()
        if item is None:
            return "missing"
        label = label_from_dict(json.loads(item["label_json"]))
        outcome, _ = self._relay_or_hold(
            conn,
            label,
            req["item_id"],
            bytes(item["sealed"]),
            req["recipient"],
            dt.date.fromisoformat(req["at_date"]),
            [],
        )
        return outcome

    # ------------------------------------------------------------------------------------------------
    # reads

    def item_status(self, item_id: str) -> dict[str, Any]:
        rows = self.store.rows(st.items, st.items.c.item_id == item_id)
        if not rows:
            raise NotFound(f"no item {item_id}")
        it = rows[0]
        out = self.store.rows(st.outbox, st.outbox.c.item_id == item_id)
        rec = self.store.rows(st.receipts, st.receipts.c.item_id == item_id)
        inb = self.store.rows(st.inbox, st.inbox.c.item_id == item_id)
        return {
            "item_id": item_id,
            "origin": it["origin"],
            "sender": it["sender"],
            "digest": it["digest"],
            "label": json.loads(it["label_json"]),
            "marking": it["marking"],
            "alternative_label": it["alt_label_xml"],
            "outbox": [
                {
                    "kind": o["kind"],
                    "to": o["recipient"],
                    "final": o["final_recipient"],
                    "state": o["state"],
                    "attempts": o["attempts"],
                }
                for o in out
            ],
            "inbox": [{"sender": i["sender"], "state": i["state"], "final": i["final_recipient"]} for i in inb],
            "receipts": [
                {
                    "recipient": r["recipient"],
                    "receipt": json.loads(r["receipt_json"]),
                    "evidence": json.loads(r["evidence"]) if r["evidence"] else None,
                }
                for r in rec
            ],
        }

    def open_item(self, item_id: str) -> tuple[Label, bytes]:
        """The plaintext of a held item, for this nation's own systems only (never logged)."""
        rows = self.store.rows(st.items, st.items.c.item_id == item_id)
        if not rows:
            raise NotFound(f"no item {item_id}")
        opened = self.sealer.open(bytes(rows[0]["sealed"]))
        return opened.label, opened.payload


@dataclass
class _Inbound:
    """What an inbound delivery needs before its transaction: the checked label, the decision, the marking."""

    failure: Exception | None = None
    label: Label | None = None
    decision: Decision | None = None
    carried: list[tuple[Consent, dict[str, Any]]] = field(default_factory=list)
    marking: str | None = None
    alt: str | None = None
    held: bytes = b""
    item: VerifiedItem | None = None


def _alternative_label(label: Label, party: str, marking: str | None) -> str | None:
    """JK-R4: this nation's alternativeConfidentialityLabel (STANAG 4774) with its equivalent marking."""
    from accord.formats.stanag4774 import alternative_label_xml

    if marking is None:
        return None
    try:
        return alternative_label_xml(label, party, marking, dt.datetime.now(dt.UTC)).decode()
    except AccordError:
        return None


def _consent_request(conn: Any, request_id: str, role: str) -> Any:
    """The consent request ``request_id`` in this role ("incoming" to the originator, "outgoing" from the holder)."""
    row = (
        conn.execute(
            select(st.consent_requests)
            .where(st.consent_requests.c.request_id == request_id)
            .where(st.consent_requests.c.role == role)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no consent request {request_id}")
    return row
