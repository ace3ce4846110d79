"""The SPIF model Accord reads and writes: namespaces, identifiers, :class:`Spif` and :class:`Equivalence`.

See :mod:`accord.formats.spif` (the registry and label checks), :mod:`accord.formats.spif_read` (strict
parsing) and :mod:`accord.formats.spif_write` (writing).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from accord.core.schemes import CAVEAT, RELEASABLE_TO, TOPIC, Category, Level, Scheme

NS = "http://www.xmlspif.org/spif"
ACC = "urn:accord:spif:1"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_S = f"{{{NS}}}"
_A = f"{{{ACC}}}"
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_KEY = re.compile(r"[A-Z0-9][A-Z0-9_]{0,31}")
_KINDS = {
    "PERMISSIVE": ("enumerated", "permissive"),
    "RESTRICTIVE": ("enumerated", "restrictive"),
    "INFORMATIVE": ("tagType7", None),
}
MAX_BYTES = 1 << 20


def policy_oid(party: str) -> str:
    """The Accord-assigned policy identifier of a nation: an OID under the UUID arc 2.25 (ITU-T X.667).

    It is derived from the code (``uuid5``), not a national registration: a nation that publishes
    its own policy OID puts it in its SPIF instead.
    """
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, f'urn:accord:policy:{party}').int}"


def tagset_oid(party: str, name: str) -> str:
    """The Accord-assigned OID of one of a policy's category tag sets."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, f'urn:accord:policy:{party}:tagset:{name}').int}"


@dataclass(frozen=True, slots=True)
class Equivalence:
    """One ``equivalentClassification`` of a SPIF: ``level`` of this policy maps to ``lacv`` of ``policy``.

    Attributes:
        level: the level of this SPIF's policy.
        policy: the equivalent policy's name (an alpha-3 code in Accord).
        lacv: the target classification's lacv in that policy.
        agreement: the agreement the mapping comes from, when the SPIF names it
            (``equivalentPolicy/@docRefURI`` = ``urn:accord:agreement:ID``).
        field: where in the file, for error messages.
    """

    level: Level
    policy: str
    lacv: int
    agreement: str | None
    field: str


@dataclass(frozen=True, slots=True)
class Spif:
    """A parsed SPIF: the scheme it defines and the equivalences it declares."""

    scheme: Scheme
    equivalences: tuple[Equivalence, ...]
    source: str


def default_categories(party: str) -> tuple[Category, ...]:
    """The label categories of an Accord policy (docs/labels.md)."""
    return (
        Category(TOPIC, "RESTRICTIVE", oid=tagset_oid(party, TOPIC)),
        Category(RELEASABLE_TO, "PERMISSIVE", prefix="REL TO ", separator=", ", oid=tagset_oid(party, RELEASABLE_TO)),
        Category(CAVEAT, "RESTRICTIVE", values=(("ORIGINATOR-ONLY", 1), ("ORCON", 2)), oid=tagset_oid(party, CAVEAT)),
    )
