"""Adapter between the node and the core: agreements, labels, decisions and consents.

Everything the node asks the core goes through here, so that the node code has one place that knows
the core's API (``accord.core.decision.decide``, ``AgreementSet``, ``Consent``, the label JSON form).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from accord.core.agreements import AgreementSet
from accord.core.consent import Consent
from accord.core.custody import Custody
from accord.core.decision import Decision
from accord.core.labels import Label
from accord.errors import LabelError
from accord.formats.agreement_yaml import load_agreements
from accord.formats.documents import consent_from_dict, consent_to_dict  # the one consent codec (strict)
from accord.formats.label_json import label_from_dict as _label_from_dict
from accord.formats.label_json import label_to_dict

__all__ = [
    "Consent",
    "Decision",
    "Label",
    "agreements_in_force",
    "consent_from_dict",
    "consent_to_dict",
    "decide_release",
    "label_from_dict",
    "label_to_dict",
    "load_agreement_set",
]


def load_agreement_set(path: str | None) -> AgreementSet:
    """The agreements the node decides under: a YAML file, or the set bundled with Accord."""
    return load_agreements(Path(path) if path else None)


def agreements_in_force(aset: AgreementSet, a: str, b: str, at: dt.date) -> list[str]:
    """Ids of the agreements in force on ``at`` to which both ``a`` and ``b`` are parties."""
    return [ag.id for ag in aset if a in ag.parties and b in ag.parties and ag.state_at(at).exchange_allowed]


def decide_release(
    aset: AgreementSet,
    label: Label,
    holder: str,
    recipient: str,
    at: dt.date,
    consents: Sequence[Consent] = (),
    custody: Custody | None = None,
    purpose: str | None = None,
) -> Decision:
    from accord.release import decide_hop  # the one enforcement point (issue 8)

    return decide_hop(label, holder, recipient, at, aset, consents, custody, purpose)


def label_from_dict(d: object, *, source: str = "label") -> Label:
    """A label from its JSON form (``accord.formats.label_json``); LabelError names the field."""
    if not isinstance(d, dict):
        raise LabelError("a label must be a JSON object", source=source)
    return _label_from_dict(d, source=source)
