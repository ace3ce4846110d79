"""National security policies as Open XML SPIF files (spec: ``docs/spif.md``).

Accord reads and writes a strict subset of SPIF 2.1 (namespace ``http://www.xmlspif.org/spif``):
the policy identifier, the classifications (name = national marking, ``lacv``, ``hierarchy``),
their marking data, the label categories (``Topic``, ``Releasable To``, ``Caveat``) and
equivalent policies (``equivalentClassification`` per level). What SPIF has no place for is
carried in Accord's own namespace ``urn:accord:spif:1``, which SPIF allows: the stable level key
used in agreement documents, the English equivalent, other national markings and ASCII aliases.

Parsing is strict: an unknown element or attribute, a repeated or ambiguous entry (two levels
with one name, lacv, hierarchy, key or spelling), a SPIF version other than 2.1, or a DTD is
refused with ``file: field: problem`` (:class:`~accord.errors.SpifError`); nothing is guessed.

The module is in four parts: the model (:mod:`~accord.formats.spif_model`), strict parsing
(:mod:`~accord.formats.spif_read`), writing (:mod:`~accord.formats.spif_write`) and, here, the registry of
the bundled nations and the checks of a label against its policy. Every public name is importable from here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from accord.core.labels import Caveat, Label
from accord.core.parties import is_alpha3, is_topic
from accord.core.schemes import CAVEAT, RELEASABLE_TO, TOPIC, Scheme, SchemeRegistry
from accord.errors import SpifError
from accord.formats.spif_model import (
    ACC,
    MAX_BYTES,
    NS,
    XML_LANG,
    Equivalence,
    Spif,
    default_categories,
    policy_oid,
    tagset_oid,
)
from accord.formats.spif_read import load_spifs, parse_spif, read_spif
from accord.formats.spif_write import write_spif

__all__ = [
    "ACC",
    "MAX_BYTES",
    "NS",
    "XML_LANG",
    "Equivalence",
    "Spif",
    "bundled_registry",
    "bundled_spif_dir",
    "bundled_spifs",
    "default_categories",
    "load_spifs",
    "parse_spif",
    "policy_oid",
    "read_spif",
    "registry_of",
    "render_banner",
    "tagset_oid",
    "validate_label",
    "validate_label_fields",
    "write_spif",
]


def registry_of(spifs: Iterable[Spif], base: SchemeRegistry | None = None) -> SchemeRegistry:
    """A registry of the schemes (added to ``base``); a nation defined twice is refused."""
    schemes = list(base or ())
    known = {s.party: s.source for s in schemes}
    for sp in spifs:
        if sp.scheme.party in known:
            raise SpifError(
                f"{sp.scheme.party} is already defined by {known[sp.scheme.party]}",
                source=sp.source,
                field="securityPolicyId/@name",
            )
        known[sp.scheme.party] = sp.source
        schemes.append(sp.scheme)
    return SchemeRegistry(schemes)


def bundled_spif_dir() -> Path:
    """The directory of the SPIFs shipped with Accord."""
    return Path(str(resources.files("accord") / "data" / "spif"))


@functools.lru_cache(maxsize=1)
def bundled_spifs() -> tuple[Spif, ...]:
    """The bundled SPIFs, parsed once."""
    return tuple(load_spifs(bundled_spif_dir()))


@functools.lru_cache(maxsize=1)
def bundled_registry() -> SchemeRegistry:
    """The bundled nations' schemes (KOR, JPN, USA), parsed once."""
    return registry_of(bundled_spifs())


def validate_label_fields(
    scheme: Scheme, classification: str, topics: Iterable[str], releasable_to: Iterable[str], caveats: Iterable[str]
) -> list[str]:
    """Problems of a label against its policy's SPIF (empty when it conforms)."""
    problems: list[str] = []
    if scheme.level(classification) is None:
        known = ", ".join(lv.marking for lv in scheme.levels)
        problems.append(
            f"classification: {classification!r} is not a classification of the {scheme.party} policy (known: {known})"
        )
    cats = {c.name.casefold(): c for c in scheme.categories}
    for tag, values, check in (
        (TOPIC, topics, is_topic),
        (RELEASABLE_TO, releasable_to, is_alpha3),
        (CAVEAT, caveats, None),
    ):
        vals = list(values)
        if not vals:
            continue
        cat = cats.get(tag.casefold())
        if cat is None:
            problems.append(f"{tag}: the {scheme.party} policy declares no {tag!r} category")
            continue
        allowed = {v.casefold() for v, _ in cat.values}
        for v in vals:
            if allowed and v.casefold() not in allowed:
                problems.append(f"{tag}: {v!r} is not a value of the {scheme.party} policy's {tag!r} category")
            elif check is not None and not check(v):
                problems.append(f"{tag}: {v!r} is malformed")
    return problems


def render_banner(label: Label, schemes: SchemeRegistry) -> str:
    """A label's banner rendered from its policy's SPIF: the canonical national marking of the
    classification and the ``Releasable To`` prefix and separator of the policy's marking qualifier
    (``KOR 군사Ⅱ급비밀 // DPRK-MISSILE // REL TO JPN, USA``). Falls back to the label's own text for a
    policy the registry does not hold."""
    scheme = schemes.get(label.originator)
    if scheme is None:
        return label.banner
    level = scheme.level(label.classification)
    parts = [f"{label.originator} {level.marking if level is not None else label.classification}"]
    if label.topics:
        parts.append(" ".join(sorted(label.topics)))
    if Caveat.ORIGINATOR_ONLY in label.caveats:
        parts.append(f"{label.originator} ONLY")
    elif label.releasable_to:
        parts.append(scheme.rel_marking(label.releasable_to))
    if Caveat.ORIGINATOR_CONTROL in label.caveats:
        parts.append("ORCON")
    return " // ".join(parts)


def validate_label(label: Label, schemes: SchemeRegistry) -> list[str]:
    """Problems of a label against its policy's SPIF (empty when it conforms)."""
    scheme = schemes.get(label.originator)
    if scheme is None:
        return [f"PolicyIdentifier: no SPIF is loaded for {label.originator}"]
    return validate_label_fields(
        scheme, label.classification, label.topics, label.releasable_to, [c.value for c in label.caveats]
    )
