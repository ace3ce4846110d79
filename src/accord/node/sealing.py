"""Adapter to the sealed-item format (``accord.sealed``) and the release plan (``accord.release``).

A node directory holds the nation's ``PartyKeys`` in ``keys/`` (0600) and its trust roster in ``trust/``
(``PARTY.N.json`` entries: its own and each pinned partner's). Signatures verify only against that roster.

The node decides once per hop (``accord.release.decide_hop``, journaled by the service) and hands the plan
made from that decision to the sealer; the sealer never decides.

- submit: ``seal(payload, label, plan=...)``: a recipient reached through a hub is wrapped for the hub,
  and the originator's signed statement asks the hub to re-wrap for the final recipient (T-R4/T-R5: the
  originator's own request is its approval; the hub may read the item).
- inbound: ``verify`` once into a verified item; ``open`` it (statement signature, key commitment, every
  segment); the recipient adds its ``alternativeConfidentialityLabel`` (JK-R4) with ``add_marking``; a hub
  ``rewrap``s the same object for the next nation and writes it once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from accord.core.agreements import AgreementSet
from accord.core.consent import Consent
from accord.core.labels import Label
from accord.errors import InputError, IntegrityError, ReleaseRefused, TrustError
from accord.sealed.item import VerifiedItem
from accord.sealed.model import Opened
from accord.sealed.plan import ReleasePlan, RewrapPlan

KEYS_DIR = "keys"
TRUST_DIR = "trust"


class Sealer(Protocol):
    """What the node needs from the sealed-item format."""

    name: str

    def seal(
        self,
        payload: bytes,
        label: Label,
        *,
        to: str,
        at: dt.date,
        consents: Sequence[Consent] = (),
        plan: ReleasePlan | None = None,
    ) -> bytes: ...

    def verify(self, blob: bytes, *, to_open: bool = False) -> VerifiedItem: ...

    def open(self, item: VerifiedItem | bytes) -> Opened: ...

    def rewrap(self, item: VerifiedItem, plan: RewrapPlan) -> VerifiedItem: ...

    def add_marking(self, item: VerifiedItem, xml: bytes) -> VerifiedItem: ...


def _refused(e: ReleaseRefused) -> ReleaseRefused:
    return ReleaseRefused(e.recipient, e.decision, f"sealing for {e.recipient} refused by the agreements")


class SealedFormat:
    """The sealed-item format (ZTDF-like zip, HPKE per recipient, hybrid signature)."""

    name = "accord.sealed"

    def __init__(self, keys_dir: Path, trust_dir: Path, agreements: AgreementSet) -> None:
        from accord.sealed.keys import PartyKeys, Roster

        self.keys = PartyKeys.load(keys_dir)
        self.roster = Roster.load(trust_dir)
        self.agreements = agreements

    def seal(
        self,
        payload: bytes,
        label: Label,
        *,
        to: str,
        at: dt.date,
        consents: Sequence[Consent] = (),
        plan: ReleasePlan | None = None,
    ) -> bytes:
        """Seal under ``plan`` (made by the caller from its decision); without one, plan it here."""
        import io

        from accord import release
        from accord.sealed.seal import seal_stream

        try:
            if plan is None:
                plan = release.plan_release(
                    label,
                    recipients=[to],
                    holder=self.keys.party,
                    agreements=self.agreements,
                    at=at,
                    consents=consents,
                    relay="rewrap",
                )
        except ReleaseRefused as e:
            raise _refused(e) from None
        out = io.BytesIO()
        seal_stream(
            io.BytesIO(payload),
            out,
            label_xml=release.label_xml_of(label),
            plan=plan,
            signer=self.keys,
            roster=self.roster,
        )
        return out.getvalue()

    def verify(self, blob: bytes, *, to_open: bool = False) -> VerifiedItem:
        """Parse and verify once. A malformed or untrusted container from a peer gets the same opaque
        answer as a failed check.

        ``to_open``: the caller opens the item next; its data key is unwrapped on the second core while the
        signatures verify, and used only once they have (``accord.sealed.item.verify_stream``; issue 8)."""
        from accord.sealed.item import verify_bytes

        try:
            return verify_bytes(blob, roster=self.roster, opening=self.keys if to_open else None)
        except (InputError, TrustError) as e:
            raise IntegrityError() from e

    def open(self, item: VerifiedItem | bytes) -> Opened:
        from accord.sealed.item import open_item

        if isinstance(item, bytes):
            item = self.verify(item, to_open=True)
        try:
            o = open_item(item, keys=self.keys)
        except (InputError, TrustError) as e:
            raise IntegrityError() from e
        # The node's items are identified by the id in the signed label (STANAG 4774 @Id).
        if o.label is None or o.payload is None or o.label.id is None:
            raise IntegrityError()
        return o

    def rewrap(self, item: VerifiedItem, plan: RewrapPlan) -> VerifiedItem:
        from accord.sealed.item import rewrap_item

        return rewrap_item(item, plan, keys=self.keys, roster=self.roster)

    def add_marking(self, item: VerifiedItem, xml: bytes) -> VerifiedItem:
        """This nation's signed ``alternativeConfidentialityLabel`` (JK-R4): one hybrid signature. A hub calls it
        on receipt; the final recipient when the stored container first leaves (``node/flow/marking.py``)."""
        from accord.sealed.item import add_alternative_label

        return add_alternative_label(item, keys=self.keys, xml=xml)


def make_sealer(directory: Path, agreements: AgreementSet) -> Sealer:
    """The sealer of the node in ``directory``."""
    return SealedFormat(directory / KEYS_DIR, directory / TRUST_DIR, agreements)


def init_keys(directory: Path, party: str) -> str:
    """Create the nation's PartyKeys (0600) and a trust roster holding its own v1 entry.

    Returns the entry (JSON text) to give to partners, who pin it after checking its fingerprint.
    """
    from accord.sealed.keys import PartyKeys, Roster

    keys = PartyKeys.generate(party)
    (directory / KEYS_DIR).mkdir(mode=0o700, parents=True, exist_ok=True)
    keys.save(directory / KEYS_DIR)
    entry = Roster.first_entry(keys)
    roster = Roster()
    roster.pin(entry)
    roster.save(directory / TRUST_DIR)
    return entry.raw.decode()


def pin_entry(directory: Path, entry_json: str, *, source: str) -> str:
    """Add a partner's roster entry to this node's trust roster; returns its fingerprint."""
    from accord.sealed.keys import Roster, RosterEntry

    entry = RosterEntry.parse(entry_json.encode(), source=source)
    roster = Roster.load(directory / TRUST_DIR)
    roster.add(entry)
    roster.save(directory / TRUST_DIR)
    return entry.fingerprint()


def own_entry(directory: Path, party: str) -> str:
    """This nation's latest roster entry (JSON text), for partners."""
    from accord.sealed.keys import Roster

    return Roster.load(directory / TRUST_DIR).latest(party).raw.decode()
