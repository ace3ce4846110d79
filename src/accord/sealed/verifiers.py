"""Signature checks of signed documents against the pinned trust roster (party keys, hybrid signatures).

The formats that carry signatures (STANAG 4778 bindings, lifecycle documents) parse and canonicalise; they
take the keys as a protocol (:class:`accord.formats.stanag4778.SignatureChecker`,
:class:`accord.formats.lifecycle_doc.KeySource`) and never import this package. :class:`RosterKeys` is the
roster's side of both.
"""

from __future__ import annotations

from pathlib import Path

from accord.errors import IntegrityError, TrustError
from accord.sealed.keys import Roster
from accord.sealed.suites import verify_signature


class RosterKeys:
    """Party keys from the pinned trust roster (``accord.sealed.keys.Roster``; read-only use)."""

    def __init__(self, roster: Roster) -> None:
        self.roster = roster

    @classmethod
    def load(cls, directory: str | Path) -> RosterKeys:
        return cls(Roster.load(directory))

    def check(self, party: str, keyid: str, signature: bytes, message: bytes) -> None:
        """Verify ``signature`` over ``message`` with ``party``'s roster key ``keyid``.

        Raises:
            TrustError: no such key of that party in the roster (or not valid for signing).
            IntegrityError: the signature does not verify (opaque).
        """
        rec = self.roster.signing_key(party, keyid)
        verify_signature(rec.public, signature, message)

    def verify(self, party: str, keyid: str, signature: bytes, message: bytes) -> bool:
        """True when the signature verifies with a roster key (a :class:`~accord.formats.lifecycle_doc.KeySource`)."""
        try:
            self.check(party, keyid, signature, message)
        except (TrustError, IntegrityError):
            return False
        return True
