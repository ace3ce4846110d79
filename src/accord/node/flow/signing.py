"""Signed consent documents between nodes (the originator's node key, from the roster)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from accord.core.ids import NAMESPACE_RULE, namespace_problem
from accord.errors import InputError, IntegrityError
from accord.node.canon import sign, verify
from accord.node.db import consents_sql as db_consents
from accord.node.flow.journal import CONSENT_DOMAIN, Journal
from accord.node.policy import (
    Consent,
    consent_from_dict,
    consent_to_dict,
)

if TYPE_CHECKING:
    pass


class Signing(Journal):
    """Signed consent documents between nodes (the originator's node key, from the roster)."""

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
        problem = namespace_problem(c.id, c.originator, self.roster.peers, "consent id")
        if problem:  # a consent's id is its originator's (ACC-R10): no partner squats another's consent id
            from accord.node.errors import IdRefused

            raise IdRefused(problem, consent_id=c.id, creator=c.originator, rule=NAMESPACE_RULE)
        return c

    def _held_consents(self, conn: Connection, holder: str) -> list[tuple[Consent, dict[str, Any]]]:
        out = []
        for text in db_consents.consent_docs(conn, holder):
            doc = json.loads(text)
            out.append((consent_from_dict(doc["consent"]), doc))
        return out
