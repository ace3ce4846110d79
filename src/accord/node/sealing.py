"""Adapter to the sealed-item format (issue 3): the node seals, opens and re-wraps only through here.

``accord.sealed.container`` (``seal_bytes``, ``open_bytes``, ``rewrap``) is used when it is installed and
the node directory holds the nation's ``PartyKeys``. Until then, :class:`_PendingSealAdapter` stands in:
it binds the label, the payload digest and the recipient list with the originator node's Ed25519 key
(verified only against the roster) and records each hub re-wrap with the hub's signature, but it does
**not encrypt** the payload (confidentiality rests on the mutual-TLS channel alone). It is temporary.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accord.core.agreements import AgreementSet
from accord.core.consent import Consent
from accord.core.labels import Label
from accord.errors import InputError, IntegrityError
from accord.node.canon import canonical, sha256_hex, sign, verify
from accord.node.errors import Refused
from accord.node.policy import decide_release, label_from_dict, label_to_dict


@dataclass(frozen=True)
class Opened:
    label: Label
    payload: bytes


class Sealer(Protocol):
    """What the node needs from the sealed-item format."""

    name: str

    def seal(
        self,
        payload: bytes,
        label: Label,
        *,
        recipients: Sequence[str],
        at: dt.date,
        consents: Sequence[Consent] = (),
    ) -> bytes: ...

    def open(self, blob: bytes) -> Opened: ...

    def rewrap(self, blob: bytes, *, to: str, at: dt.date, consents: Sequence[Consent] = ()) -> bytes: ...


_FORMAT = "accord-pending-seal/1"


class _PendingSealAdapter:
    """TEMPORARY stand-in for accord.sealed until it lands on main. Signs, does not encrypt."""

    name = "pending"

    def __init__(
        self,
        party: str,
        key: Ed25519PrivateKey,
        keys: Mapping[str, Ed25519PublicKey],
        agreements: AgreementSet,
    ) -> None:
        self.party = party
        self.key = key
        self.keys = dict(keys)
        self.keys[party] = key.public_key()
        self.agreements = agreements

    def _check(self, label: Label, holder: str, to: str, at: dt.date, consents: Sequence[Consent]) -> None:
        d = decide_release(self.agreements, label, holder, to, at, consents)
        if not d.allowed:
            raise Refused(f"sealing for {to} refused by the agreements", decision=d.to_dict())

    def seal(
        self,
        payload: bytes,
        label: Label,
        *,
        recipients: Sequence[str],
        at: dt.date,
        consents: Sequence[Consent] = (),
    ) -> bytes:
        if not recipients:
            raise InputError("no recipient: refusing to seal", field="recipients")
        for r in recipients:
            self._check(label, self.party, r, at, consents)
        header = {
            "format": _FORMAT,
            "label": label_to_dict(label),
            "recipients": sorted(set(recipients)),
            "digest": sha256_hex(payload),
            "signer": self.party,
        }
        doc = {
            "header": header,
            "sig": sign(self.key, "accord-seal", header),
            "relays": [],
            "payload": base64.b64encode(payload).decode(),
        }
        return canonical(doc)

    def _parse(self, blob: bytes) -> tuple[dict[str, Any], Label, bytes]:
        try:
            doc = json.loads(blob)
            header = doc["header"]
            if header["format"] != _FORMAT:
                raise IntegrityError()
            signer = header["signer"]
            label = label_from_dict(header["label"])
            payload = base64.b64decode(doc["payload"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error) as e:
            raise IntegrityError() from e
        # The label is bound by the originator's signature, verified against the roster only.
        pub = self.keys.get(signer)
        if pub is None or signer != label.originator:
            raise IntegrityError()
        verify(pub, "accord-seal", header, doc["sig"])
        if sha256_hex(payload) != header["digest"]:
            raise IntegrityError()
        readers = set(header["recipients"])
        for relay in doc.get("relays", []):
            by = relay.get("by")
            rpub = self.keys.get(by)
            if rpub is None or by not in readers:
                raise IntegrityError()
            verify(
                rpub,
                "accord-rewrap",
                {"digest": header["digest"], "by": by, "to": relay.get("to")},
                relay.get("sig", ""),
            )
            readers.add(relay["to"])
        doc["_readers"] = readers
        return doc, label, payload

    def open(self, blob: bytes) -> Opened:
        doc, label, payload = self._parse(blob)
        if self.party not in doc["_readers"]:
            raise IntegrityError()
        return Opened(label=label, payload=payload)

    def rewrap(self, blob: bytes, *, to: str, at: dt.date, consents: Sequence[Consent] = ()) -> bytes:
        doc, label, _ = self._parse(blob)
        if self.party not in doc["_readers"]:
            raise IntegrityError()
        self._check(label, self.party, to, at, consents)
        digest = doc["header"]["digest"]
        doc.pop("_readers")
        doc["relays"].append(
            {
                "by": self.party,
                "to": to,
                "sig": sign(self.key, "accord-rewrap", {"digest": digest, "by": self.party, "to": to}),
            }
        )
        return canonical(doc)


def make_sealer(
    party: str, key: Ed25519PrivateKey, keys: Mapping[str, Ed25519PublicKey], agreements: AgreementSet
) -> Sealer:
    """The sealer for this node: the real format when available, else the temporary stand-in."""
    return _PendingSealAdapter(party, key, keys, agreements)
