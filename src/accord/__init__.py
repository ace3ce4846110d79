"""Accord: release classified military information only as the agreements in force allow.

The public API (the Python SDK, ``docs/sdk.md``) is what ``__all__`` names; everything else is internal
and may move. Names are loaded on first use, so ``import accord`` stays cheap::

    import datetime as dt
    import accord

    agreements = accord.load_agreements()                       # the bundled agreement set
    label = accord.label_from_json(open("label.json").read())  # or accord.label_from_xml(STANAG 4774)
    d = accord.decide(label, "KOR", "JPN", dt.date(2017, 1, 5), agreements=agreements)
    blob = accord.seal_bytes(b"...", label, recipients=["JPN"], signer=keys, roster=roster,
                             agreements=agreements, at=dt.date(2017, 1, 5))

The layers: ``accord.core`` (pure model and decision engine: no I/O, time is an argument),
``accord.formats`` (parsers and serialisers at the edge), ``accord.release`` (the one enforcement point),
``accord.sealed`` (the sealed-item format, decision-free), ``accord.audit`` (tamper-evident log),
``accord.node`` (the gateway node), ``accord.cli`` (the command line).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS: dict[str, str] = {
    # agreements, labels, consents (formats at the edge)
    "load_agreements": "accord.formats.agreement_yaml",
    "label_from_json": "accord.formats.label_json",
    "label_from_dict": "accord.formats.label_json",
    "label_to_json": "accord.formats.label_json",
    "label_from_xml": "accord.formats.stanag4774",
    "label_to_xml": "accord.formats.stanag4774",
    "load_consents": "accord.formats.documents",
    "load_person": "accord.formats.documents",
    # the core model and decisions
    "Agreement": "accord.core.agreements",
    "AgreementSet": "accord.core.agreements",
    "Label": "accord.core.labels",
    "Consent": "accord.core.consent",
    "Person": "accord.core.persons",
    "Decision": "accord.core.decision",
    "decide": "accord.core.decision",
    "enforce": "accord.core.decision",
    "AccessDecision": "accord.core.access",
    "access": "accord.core.access",
    "Matrix": "accord.core.matrix",
    "sharing_matrix": "accord.core.matrix",
    # the release path: plan once, seal, open, re-wrap
    "ReleasePlan": "accord.sealed.plan",
    "RewrapPlan": "accord.sealed.plan",
    "plan_release": "accord.release",
    "plan_rewrap": "accord.release",
    "seal_bytes": "accord.release",
    "seal_file": "accord.release",
    "rewrap": "accord.release",
    "rewrap_file": "accord.release",
    "Opened": "accord.sealed.model",
    "Inspection": "accord.sealed.model",
    "VerifiedItem": "accord.sealed.item",
    "open_bytes": "accord.sealed.container",
    "open_file": "accord.sealed.container",
    "inspect_bytes": "accord.sealed.container",
    "inspect_file": "accord.sealed.container",
    "verify_bytes": "accord.sealed.container",
    "PartyKeys": "accord.sealed.keys",
    "Roster": "accord.sealed.keys",
    # audit log and receipts
    "AuditLog": "accord.audit.log",
    "ReceiptEvidence": "accord.audit.receipt",
    "verify_receipt_evidence": "accord.audit.receipt",
    "verify_export": "accord.audit.log",
    # a node's HTTP API
    "NodeClient": "accord.node.client",
    # errors
    "AccordError": "accord.errors",
    "InputError": "accord.errors",
    "IntegrityError": "accord.errors",
    "TrustError": "accord.errors",
    "Refusal": "accord.errors",
    "ReleaseRefused": "accord.errors",
    "PeerRefused": "accord.errors",
    "NotFound": "accord.errors",
}

__all__ = [
    "AccessDecision",
    "AccordError",
    "Agreement",
    "AgreementSet",
    "AuditLog",
    "Consent",
    "Decision",
    "InputError",
    "Inspection",
    "IntegrityError",
    "Label",
    "Matrix",
    "NodeClient",
    "NotFound",
    "Opened",
    "PartyKeys",
    "PeerRefused",
    "Person",
    "ReceiptEvidence",
    "Refusal",
    "ReleasePlan",
    "ReleaseRefused",
    "RewrapPlan",
    "Roster",
    "TrustError",
    "VerifiedItem",
    "access",
    "decide",
    "enforce",
    "inspect_bytes",
    "inspect_file",
    "label_from_dict",
    "label_from_json",
    "label_from_xml",
    "label_to_json",
    "label_to_xml",
    "load_agreements",
    "load_consents",
    "load_person",
    "open_bytes",
    "open_file",
    "plan_release",
    "plan_rewrap",
    "rewrap",
    "rewrap_file",
    "seal_bytes",
    "seal_file",
    "sharing_matrix",
    "verify_bytes",
    "verify_export",
    "verify_receipt_evidence",
]


def _bundled_schemes() -> Any:
    from accord.formats.spif import bundled_registry  # the edge reads the shipped SPIFs, once

    return bundled_registry()


# The composition of the layers the core cannot do itself: where its bundled classification schemes come
# from (the core imports no format; tests/test_layering.py). Nothing is read until a scheme is needed.
importlib.import_module("accord.core.schemes").set_bundled_source(_bundled_schemes)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'accord' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # what type checkers and IDEs see; at run time names load on first use
    from accord.audit.log import AuditLog, verify_export
    from accord.audit.receipt import ReceiptEvidence, verify_receipt_evidence
    from accord.core.access import AccessDecision, access
    from accord.core.agreements import Agreement, AgreementSet
    from accord.core.consent import Consent
    from accord.core.decision import Decision, decide, enforce
    from accord.core.labels import Label
    from accord.core.matrix import Matrix, sharing_matrix
    from accord.core.persons import Person
    from accord.errors import (
        AccordError,
        InputError,
        IntegrityError,
        NotFound,
        PeerRefused,
        Refusal,
        ReleaseRefused,
        TrustError,
    )
    from accord.formats.agreement_yaml import load_agreements
    from accord.formats.documents import load_consents, load_person
    from accord.formats.label_json import label_from_dict, label_from_json, label_to_json
    from accord.formats.stanag4774 import label_from_xml, label_to_xml
    from accord.node.client import NodeClient
    from accord.release import plan_release, plan_rewrap, rewrap, rewrap_file, seal_bytes, seal_file
    from accord.sealed.container import inspect_bytes, inspect_file, open_bytes, open_file, verify_bytes
    from accord.sealed.item import VerifiedItem
    from accord.sealed.keys import PartyKeys, Roster
    from accord.sealed.model import Inspection, Opened
    from accord.sealed.plan import ReleasePlan, RewrapPlan
