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

from accord.node.flow.consent import Consents
from accord.node.flow.custody_ops import CustodyOps
from accord.node.flow.derived_net import DerivedRelease
from accord.node.flow.inbound import Inbound
from accord.node.flow.journal import CONSENT_DOMAIN, ORIGINATOR_REQUEST, RECEIPT_DOMAIN, Caller, Courier
from accord.node.flow.reads import Reads
from accord.node.flow.receipts import Receipts

__all__ = ["CONSENT_DOMAIN", "ORIGINATOR_REQUEST", "RECEIPT_DOMAIN", "Caller", "Courier", "NodeService"]


class NodeService(CustodyOps, DerivedRelease, Inbound, Consents, Receipts, Reads):
    """One nation's node over its store. Thread-safe: all state is in the database.

    A thin composition of the flows in :mod:`accord.node.flow` (journal, admission, signing, outbound,
    inbound, receipts, consent, reads); each flow is one module along a one-way seam.
    """
