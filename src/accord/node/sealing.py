"""Adapter to the sealed-item format (issue 3, ``accord.sealed``): the node seals, opens and re-wraps here.

A node directory holds the nation's ``PartyKeys`` in ``keys/`` (0600) and its trust roster in ``trust/``
(``PARTY.N.json`` entries: its own and each pinned partner's). Signatures verify only against that roster.

- submit: ``seal_bytes(..., recipients=[final], relay="rewrap")``: a recipient reached through a hub is
  wrapped for the hub, and the originator's signed statement asks the hub to re-wrap for the final
  recipient (T-R4/T-R5: the originator's own request is its approval; the hub may read the item).
- relay / forward: ``rewrap`` (the hub adds a wrapped key for the next nation; the decision engine decides).
- inbound: ``open_bytes`` (statement signature, key commitment, every segment), then the recipient adds its
  ``alternativeConfidentialityLabel`` (JK-R4) with ``add_alternative_label_bytes``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from accord.core.agreements import AgreementSet
from accord.core.consent import Consent
from accord.core.labels import Label
from accord.errors import InputError, IntegrityError, ReleaseRefused, TrustError
from accord.node.errors import Refused

KEYS_DIR = "keys"
TRUST_DIR = "trust"


@dataclass(frozen=True)
class Opened:
    label: Label
    payload: bytes
    item_id: str
    holder: str


class Sealer(Protocol):
    """What the node needs from the sealed-item format."""

    name: str

    def seal(
        self, payload: bytes, label: Label, *, to: str, at: dt.date, consents: Sequence[Consent] = ()
    ) -> bytes: ...

    def open(self, blob: bytes) -> Opened: ...

    def rewrap(self, blob: bytes, *, to: str, at: dt.date, consents: Sequence[Consent] = ()) -> bytes: ...

    def add_marking(self, blob: bytes, xml: bytes) -> bytes: ...


def _refused(e: ReleaseRefused) -> Refused:
    d = e.decision
    to_dict = getattr(d, "to_dict", None)
    return Refused(f"sealing for {e.recipient} refused by the agreements", decision=to_dict() if to_dict else None)


class SealedFormat:
    """The sealed-item format of issue 3 (ZTDF-like zip, HPKE per recipient, hybrid signature)."""

    name = "accord.sealed"

    def __init__(self, keys_dir: Path, trust_dir: Path, agreements: AgreementSet) -> None:
        from accord.sealed.keys import PartyKeys, Roster

        self.keys = PartyKeys.load(keys_dir)
        self.roster = Roster.load(trust_dir)
        self.agreements = agreements

    def seal(self, payload: bytes, label: Label, *, to: str, at: dt.date, consents: Sequence[Consent] = ()) -> bytes:
        from accord.sealed.container import seal_bytes

        try:
            return seal_bytes(
                payload,
                label,
                recipients=[to],
                signer=self.keys,
                roster=self.roster,
                agreements=self.agreements,
                at=at,
                consents=consents,
                relay="rewrap",
            )
        except ReleaseRefused as e:
            raise _refused(e) from None

    def open(self, blob: bytes) -> Opened:
        from accord.sealed.container import open_bytes

        try:
            o = open_bytes(blob, keys=self.keys, roster=self.roster)
        except (InputError, TrustError) as e:
            # A malformed or untrusted container from a peer: the same opaque answer as a failed check.
            raise IntegrityError() from e
        if o.label is None or o.payload is None:
            raise IntegrityError()
        label = o.label
        if label.id is None:  # the node's items are identified by the id in the signed label (STANAG 4774 @Id)
            raise IntegrityError()
        return Opened(label=label, payload=o.payload, item_id=label.id, holder=o.manifest.holder)

    def rewrap(self, blob: bytes, *, to: str, at: dt.date, consents: Sequence[Consent] = ()) -> bytes:
        from accord.sealed.container import rewrap

        try:
            return rewrap(
                blob, keys=self.keys, roster=self.roster, to=to, agreements=self.agreements, at=at, consents=consents
            )
        except ReleaseRefused as e:
            raise _refused(e) from None

    def add_marking(self, blob: bytes, xml: bytes) -> bytes:
        from accord.sealed.container import add_alternative_label_bytes

        return add_alternative_label_bytes(blob, keys=self.keys, roster=self.roster, xml=xml)


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
