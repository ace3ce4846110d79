"""Admission of partner nodes: a pinned certificate, and an agreement in force binding both nations."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from accord.node.config import Peer
from accord.node.errors import PeerRefused
from accord.node.flow.journal import Caller, Journal
from accord.node.policy import (
    agreements_in_force,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger("accord.node")


class Admission(Journal):
    """Admission of partner nodes: a pinned certificate, and an agreement in force binding both nations."""

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
