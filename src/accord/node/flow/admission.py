"""Admission of partner nodes: a pinned certificate, and an agreement in force binding both nations."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from accord.core.parties import PARTY_NAMES
from accord.node.config import Peer
from accord.node.errors import PeerRefused
from accord.node.flow.journal import Caller, Journal
from accord.node.policy import (
    agreements_in_force,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger("accord.node")


def id_namespace(item_id: str, known: Iterable[str]) -> str | None:
    """The party whose namespace ``item_id`` lies in, if any (issue 9: ids are namespaced by their creator).

    An id is *qualified* when it starts with a known party's code and ``-`` or ``:`` (``kor-2017-7``,
    ``KOR:7``, the form of the ids a node generates); it then belongs to that party alone: no other party may
    create an item with it. An unqualified id (``k1``) belongs to nobody in particular: a partner's item under
    it is still refused when this node holds the id under another originator.
    """
    if len(item_id) > 4 and item_id[3] in "-:" and item_id[:3].isascii() and item_id[:3].isalpha():
        code = item_id[:3].upper()
        if code in known:
            return code
    return None


def check_own_id(item_id: str, party: str, peers: Iterable[str]) -> None:
    """A node's own submit may not create an id in another party's namespace (InputError, exit 2)."""
    from accord.errors import InputError

    owner = id_namespace(item_id, {party, *peers, *PARTY_NAMES})
    if owner is not None and owner != party:
        raise InputError(
            f"item id {item_id} lies in {owner}'s namespace; {party} names its items with its own "
            f"code ({party.lower()}-…)",
            field="label.id",
        )


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

    def known_parties(self) -> set[str]:
        """Parties whose id namespaces this node knows: itself, its pinned peers, the bundled names."""
        return {self.party, *self.roster.peers, *PARTY_NAMES}

    def check_namespace(self, item_id: str, originator: str) -> None:
        """Refuse an id in another party's namespace (:func:`id_namespace`)."""
        owner = id_namespace(item_id, self.known_parties())
        if owner is not None and owner != originator:
            from accord.node.errors import IdRefused

            raise IdRefused(
                f"item id {item_id} lies in {owner}'s namespace; {originator} cannot create it",
                item_id=item_id,
                namespace=owner,
            )
