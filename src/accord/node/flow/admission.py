"""Admission of partner nodes: a pinned certificate, and an agreement in force binding both nations."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.engine import Connection

from accord.core.ids import NAMESPACE_RULE, check_namespace, composed_id, id_namespace, namespace_problem
from accord.core.parties import PARTY_NAMES
from accord.node.config import Peer
from accord.node.db import items_sql as db_items
from accord.node.errors import IdRefused, PeerRefused
from accord.node.flow.journal import Caller, Journal
from accord.node.policy import (
    Label,
    agreements_in_force,
    label_to_dict,
)

log = logging.getLogger("accord.node")


def check_own_id(item_id: str, party: str, peers: Iterable[str]) -> None:
    """A node creates ids only in its own namespace (ACC-R10): ``kor-…`` at KOR. Anything else, an id in
    another party's namespace or an unqualified one (``k9``, which a partner could otherwise take first), is
    a :class:`~accord.core.ids.NamespaceError` (400, exit 2 at the CLI)."""
    check_namespace(item_id, party, {*peers, *PARTY_NAMES}, field="label.id")


def consent_request_id(item_id: str, holder: str, recipient: str) -> str:
    """The id of ``holder``'s request to release ``item_id`` to ``recipient``: in the holder's namespace
    (ACC-R10) and fixed by the request, so that no partner can take another's (``usa-cr:kor-7:JPN``)."""
    return composed_id(f"{holder.lower()}-cr:", item_id, f":{recipient}")  # within the id grammar


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

    def check_namespace(self, item_id: str, creator: str, what: str = "item id") -> None:
        """Refuse a partner's id that is not in its creator's namespace (ACC-R10): an item's id in its
        originator's, a consent's in its originator's, a consent request's in its holder's. An unqualified id
        (``k9``) is refused like one in another party's namespace: otherwise the first to send it takes it."""
        problem = namespace_problem(item_id, creator, self.known_parties(), what)
        if problem:
            from accord.node.errors import IdRefused

            raise IdRefused(
                problem,
                item_id=item_id,
                namespace=id_namespace(item_id, self.known_parties()),
                creator=creator,
                rule=NAMESPACE_RULE,
            )

    def _check_id_clash(self, conn: Connection, item_id: str, label: Label, *, home: bool = False) -> bool:
        """A partner's item never takes the id of an item held here under another originator or label (an own
        item above all): refused, never receipted "stored" with its content discarded (issue 9). ``home``: this
        nation's item (label) comes to this node as its final recipient -- when this node holds the very item
        as its own, under the same label, it is a holder's return (JK-R13): True. A derived item of this
        nation's (another id) is not a return."""
        return self._judge_id_clash(db_items.item_claim(conn, item_id), item_id, label, home=home)

    def _judge_id_clash(self, row: Mapping[str, Any] | None, item_id: str, label: Label, *, home: bool = False) -> bool:
        """:meth:`_check_id_clash` on the item's row as read in the caller's write transaction (issue 8)."""
        if row is None:
            return False
        if home and row["origin"] == "local" and row["originator"] == self.party:
            if json.loads(row["label_json"]) != label_to_dict(label):
                raise IdRefused(f"item {item_id} is returned under another label", item_id=item_id)
            return True
        if row["origin"] == "local" or row["originator"] != label.originator:
            raise IdRefused(
                f"item id {item_id} is already held here as {row['originator']}'s item",
                item_id=item_id,
                held_originator=row["originator"],
                claimed_originator=label.originator,
            )
        if json.loads(row["label_json"]) != label_to_dict(label):
            raise IdRefused(f"item {item_id} is already held here under another label", item_id=item_id)
        return False
