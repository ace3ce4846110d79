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
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lxml import etree

from accord.core.labels import Caveat, Label
from accord.core.parties import is_alpha3, is_topic
from accord.core.schemes import (
    CAVEAT,
    RELEASABLE_TO,
    TOPIC,
    Category,
    Level,
    Scheme,
    SchemeRegistry,
    normalise_marking,
)
from accord.errors import SpifError

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


# ---------------------------------------------------------------------------------------------
# Parsing


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, field: str, message: str) -> SpifError:
        return SpifError(message, source=self.source, field=field)

    def attrs(self, el: etree._Element, field: str, allowed: set[str], required: set[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in el.attrib.items():
            key = str(name)
            if key not in allowed:
                raise self.err(
                    f"{field}/@{_short(key)}",
                    "attribute not supported by Accord's SPIF subset "
                    f"(allowed: {', '.join(sorted(_short(a) for a in allowed)) or 'none'})",
                )
            out[key] = str(value)
        for name in sorted(required):
            if not out.get(name, "").strip():
                raise self.err(f"{field}/@{_short(name)}", "required attribute is missing or empty")
        return out

    def integer(self, value: str, field: str) -> int:
        if not re.fullmatch(r"0|[1-9][0-9]{0,8}", value.strip()):
            raise self.err(field, f"{value!r} is not a non-negative integer")
        return int(value)

    def children(self, el: etree._Element, field: str, allowed: set[str]) -> list[etree._Element]:
        out = []
        for child in el:
            if child.tag not in allowed:
                raise self.err(
                    f"{field}/{_short(child.tag)}",
                    "element not supported by Accord's SPIF subset "
                    f"(allowed here: {', '.join(sorted(_short(a) for a in allowed))})",
                )
            if child.tail is not None and child.tail.strip():
                raise self.err(field, "text between elements")
            out.append(child)
        if el.text is not None and el.text.strip() and len(el):
            raise self.err(field, "text between elements")
        return out


def _short(tag: str) -> str:
    return tag.replace(_S, "spif:").replace(_A, "accord:").replace(XML_LANG, "xml:lang")


def _text(ctx: _Ctx, el: etree._Element, field: str) -> str:
    if len(el):
        raise ctx.err(field, "expected text, found elements")
    text = (el.text or "").strip()
    if not text:
        raise ctx.err(field, "empty")
    return text


def parse_spif(data: bytes, *, source: str) -> Spif:
    """Parse one SPIF document (raises :class:`SpifError` with file, field and problem)."""
    ctx = _Ctx(source)
    if len(data) > MAX_BYTES:
        raise ctx.err("(document)", f"larger than {MAX_BYTES} bytes")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ctx.err("(document)", f"not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise ctx.err("(document)", "a DTD is not allowed")
    if root.tag != f"{_S}SPIF":
        raise ctx.err("(document)", f"root element is {_short(root.tag)}, expected spif:SPIF in namespace {NS}")
    top = ctx.attrs(
        root,
        "SPIF",
        {"schemaVersion", "version", "creationDate", "originatorDN", "keyIdentifier", "privilegeId", "rbacId"},
        {"schemaVersion", "version"},
    )
    if top["schemaVersion"] != "2.1":
        raise ctx.err("SPIF/@schemaVersion", f"SPIF {top['schemaVersion']} is not supported (Accord reads 2.1)")
    kids = ctx.children(
        root,
        "SPIF",
        {
            f"{_S}securityPolicyId",
            f"{_A}scheme",
            f"{_S}securityClassifications",
            f"{_S}securityCategoryTagSets",
            f"{_S}equivalentPolicies",
        },
    )
    by_tag: dict[str, etree._Element] = {}
    for k in kids:
        if k.tag in by_tag:
            raise ctx.err(f"SPIF/{_short(k.tag)}", "repeated element")
        by_tag[k.tag] = k
    pol = by_tag.get(f"{_S}securityPolicyId")
    if pol is None:
        raise ctx.err("SPIF/spif:securityPolicyId", "required element is missing")
    pa = ctx.attrs(pol, "securityPolicyId", {"name", "id"}, {"name", "id"})
    party = pa["name"].strip()
    if not is_alpha3(party):
        raise ctx.err(
            "securityPolicyId/@name",
            f"{party!r} is not an ISO 3166 alpha-3 code (Accord names a national policy by its nation)",
        )
    oid = pa["id"].strip()
    if not _OID.fullmatch(oid):
        raise ctx.err("securityPolicyId/@id", f"{oid!r} is not an object identifier")
    name, basis = party, ""
    meta = by_tag.get(f"{_A}scheme")
    if meta is not None:
        ma = ctx.attrs(meta, "accord:scheme", {"name", "basis"}, {"name"})
        ctx.children(meta, "accord:scheme", set())
        name, basis = ma["name"].strip(), ma.get("basis", "").strip()
    classes = by_tag.get(f"{_S}securityClassifications")
    if classes is None:
        raise ctx.err("SPIF/spif:securityClassifications", "required element is missing")
    ctx.attrs(classes, "securityClassifications", set(), set())
    levels: list[Level] = []
    raw_equiv: list[tuple[Level, str, int, str]] = []
    seen: dict[str, dict[object, str]] = {"name": {}, "lacv": {}, "hierarchy": {}, "key": {}, "spelling": {}}

    def once(kind: str, value: object, field: str) -> None:
        if value in seen[kind]:
            raise ctx.err(field, f"{kind} {value!r} already used by {seen[kind][value]}: ambiguous")
        seen[kind][value] = field

    for i, el in enumerate(ctx.children(classes, "securityClassifications", {f"{_S}securityClassification"})):
        f = f"securityClassification[{i + 1}]"
        a = ctx.attrs(
            el,
            f,
            {"name", "lacv", "hierarchy", "color", "obsolete", f"{_A}key", f"{_A}english"},
            {"name", "lacv", "hierarchy", f"{_A}key", f"{_A}english"},
        )
        marking = a["name"].strip()
        lacv = ctx.integer(a["lacv"], f"{f}/@lacv")
        rank = ctx.integer(a["hierarchy"], f"{f}/@hierarchy")
        key = a[f"{_A}key"].strip()
        if not _KEY.fullmatch(key):
            raise ctx.err(f"{f}/@accord:key", f"{key!r} is not an upper-case ASCII key (A-Z 0-9 _)")
        if a.get("obsolete", "false") not in ("false", "0"):
            raise ctx.err(f"{f}/@obsolete", "obsolete classifications are not supported")
        once("name", marking, f"{f}/@name")
        once("lacv", lacv, f"{f}/@lacv")
        once("hierarchy", rank, f"{f}/@hierarchy")
        once("key", key, f"{f}/@accord:key")
        others: list[str] = []
        aliases: list[str] = []
        equivs: list[tuple[str, int, str]] = []
        for j, ch in enumerate(
            ctx.children(el, f, {f"{_S}markingData", f"{_A}marking", f"{_A}alias", f"{_S}equivalentClassification"})
        ):
            cf = f"{f}/{_short(ch.tag)}[{j + 1}]"
            if ch.tag == f"{_S}markingData":
                md = ctx.attrs(ch, cf, {"phrase", XML_LANG}, {"phrase"})
                codes = [_text(ctx, c, f"{cf}/spif:code") for c in ctx.children(ch, cf, {f"{_S}code"})]
                if md["phrase"].strip() != marking:
                    raise ctx.err(
                        f"{cf}/@phrase",
                        f"{md['phrase']!r} differs from the classification name "
                        f"{marking!r}; put other national markings in accord:marking",
                    )
                if not codes:
                    raise ctx.err(cf, "markingData needs at least one spif:code")
            elif ch.tag == f"{_A}marking":
                ctx.attrs(ch, cf, set(), set())
                others.append(_text(ctx, ch, cf))
            elif ch.tag == f"{_A}alias":
                ctx.attrs(ch, cf, set(), set())
                aliases.append(_text(ctx, ch, cf))
            else:
                ea = ctx.attrs(ch, cf, {"policyRef", "lacv", "applied"}, {"policyRef", "lacv", "applied"})
                ctx.children(ch, cf, set())
                if ea["applied"] not in ("both", "encrypt", "decrypt"):
                    raise ctx.err(f"{cf}/@applied", f"{ea['applied']!r} is not one of both, encrypt, decrypt")
                equivs.append((ea["policyRef"].strip(), ctx.integer(ea["lacv"], f"{cf}/@lacv"), cf))
        english = a[f"{_A}english"].strip()
        level = Level(
            party=party,
            key=key,
            marking=marking,
            rank=rank,
            english=english,
            other_markings=tuple(others),
            aliases=tuple(aliases),
            lacv=lacv,
        )
        for spelling in level.spellings():
            norm = normalise_marking(spelling)
            if seen["spelling"].get(norm, f) != f:
                raise ctx.err(f, f"spelling {spelling!r} also names {seen['spelling'][norm]}: ambiguous")
            seen["spelling"][norm] = f
        levels.append(level)
        refs_seen: set[str] = set()
        for ref, lv, cf in equivs:
            if ref in refs_seen:
                raise ctx.err(cf, f"{marking} has two equivalents in policy {ref}: ambiguous")
            refs_seen.add(ref)
            raw_equiv.append((level, ref, lv, cf))
    if not levels:
        raise ctx.err("securityClassifications", "a policy needs at least one classification")
    levels.sort(key=lambda lv: -lv.rank)
    categories = _categories(ctx, by_tag.get(f"{_S}securityCategoryTagSets"))
    refs = _equivalent_policies(ctx, by_tag.get(f"{_S}equivalentPolicies"))
    equivalences: list[Equivalence] = []
    for level, ref, lv, cf in raw_equiv:
        if ref not in refs:
            raise ctx.err(f"{cf}/@policyRef", f"{ref!r} is not declared in spif:equivalentPolicies")
        equivalences.append(Equivalence(level, ref, lv, refs[ref], cf))
    try:
        scheme = Scheme(
            party=party,
            name=name,
            levels=tuple(levels),
            policy_id=oid,
            categories=categories,
            source=source,
            basis=basis,
        )
    except ValueError as exc:
        raise ctx.err("securityClassifications", str(exc)) from None
    return Spif(scheme=scheme, equivalences=tuple(equivalences), source=source)


def _categories(ctx: _Ctx, el: etree._Element | None) -> tuple[Category, ...]:
    if el is None:
        return ()
    ctx.attrs(el, "securityCategoryTagSets", set(), set())
    out: list[Category] = []
    names: set[str] = set()
    for i, ts in enumerate(ctx.children(el, "securityCategoryTagSets", {f"{_S}securityCategoryTagSet"})):
        f = f"securityCategoryTagSet[{i + 1}]"
        ta = ctx.attrs(ts, f, {"name", "id"}, {"name", "id"})
        tname = ta["name"].strip()
        if tname.casefold() in names:
            raise ctx.err(f"{f}/@name", f"tag set {tname!r} is declared twice")
        names.add(tname.casefold())
        if not _OID.fullmatch(ta["id"].strip()):
            raise ctx.err(f"{f}/@id", f"{ta['id']!r} is not an object identifier")
        tags = ctx.children(ts, f, {f"{_S}securityCategoryTag"})
        if len(tags) != 1:
            raise ctx.err(f, "Accord's subset has exactly one securityCategoryTag per tag set")
        tf = f"{f}/spif:securityCategoryTag"
        tg = ctx.attrs(tags[0], tf, {"name", "tagType", "enumType"}, {"name", "tagType"})
        kind = next((k for k, (tt, et) in _KINDS.items() if tg["tagType"] == tt and tg.get("enumType") == et), None)
        if kind is None:
            raise ctx.err(
                tf,
                f"tagType {tg['tagType']!r} enumType {tg.get('enumType')!r} is not supported "
                "(enumerated permissive/restrictive, or tagType7)",
            )
        values: list[tuple[str, int]] = []
        prefix, sep = "", ", "
        seen_v: set[str] = set()
        seen_l: set[int] = set()
        for j, ch in enumerate(ctx.children(tags[0], tf, {f"{_S}tagCategory", f"{_S}markingQualifier"})):
            cf = f"{tf}/{_short(ch.tag)}[{j + 1}]"
            if ch.tag == f"{_S}tagCategory":
                ca = ctx.attrs(ch, cf, {"name", "lacv"}, {"name", "lacv"})
                ctx.children(ch, cf, set())
                v, lv = ca["name"].strip(), ctx.integer(ca["lacv"], f"{cf}/@lacv")
                if v.casefold() in seen_v or lv in seen_l:
                    raise ctx.err(cf, f"value {v!r} or lacv {lv} repeated in {tname}: ambiguous")
                seen_v.add(v.casefold())
                seen_l.add(lv)
                values.append((v, lv))
            else:
                ctx.attrs(ch, cf, {"markingCode"}, set())
                for k, q in enumerate(ctx.children(ch, cf, {f"{_S}qualifier"})):
                    qa = ctx.attrs(
                        q,
                        f"{cf}/spif:qualifier[{k + 1}]",
                        {"markingQualifier", "qualifierCode"},
                        {"markingQualifier", "qualifierCode"},
                    )
                    if qa["qualifierCode"] == "prefix":
                        prefix = qa["markingQualifier"]
                    elif qa["qualifierCode"] == "separator":
                        sep = qa["markingQualifier"]
                    elif qa["qualifierCode"] != "suffix":
                        raise ctx.err(
                            f"{cf}/spif:qualifier[{k + 1}]/@qualifierCode",
                            f"{qa['qualifierCode']!r} is not prefix, suffix or separator",
                        )
        out.append(
            Category(name=tname, kind=kind, values=tuple(values), prefix=prefix, separator=sep, oid=ta["id"].strip())
        )
    return tuple(out)


def _equivalent_policies(ctx: _Ctx, el: etree._Element | None) -> dict[str, str | None]:
    if el is None:
        return {}
    ctx.attrs(el, "equivalentPolicies", set(), set())
    out: dict[str, str | None] = {}
    for i, ep in enumerate(ctx.children(el, "equivalentPolicies", {f"{_S}equivalentPolicy"})):
        f = f"equivalentPolicy[{i + 1}]"
        a = ctx.attrs(ep, f, {"name", "id", "docRefURI", "userRefURI"}, {"name", "id"})
        ctx.children(ep, f, set())
        name = a["name"].strip()
        if not is_alpha3(name):
            raise ctx.err(f"{f}/@name", f"{name!r} is not an alpha-3 policy name")
        if name in out:
            raise ctx.err(f"{f}/@name", f"equivalent policy {name} is declared twice")
        ref = a.get("docRefURI", "").strip()
        agreement = None
        if ref:
            if not ref.startswith("urn:accord:agreement:"):
                raise ctx.err(f"{f}/@docRefURI", f"{ref!r}: Accord expects urn:accord:agreement:ID")
            agreement = ref.removeprefix("urn:accord:agreement:")
        out[name] = agreement
    return out


# ---------------------------------------------------------------------------------------------
# Writing


def default_categories(party: str) -> tuple[Category, ...]:
    """The label categories of an Accord policy (docs/labels.md)."""
    return (
        Category(TOPIC, "RESTRICTIVE", oid=tagset_oid(party, TOPIC)),
        Category(RELEASABLE_TO, "PERMISSIVE", prefix="REL TO ", separator=", ", oid=tagset_oid(party, RELEASABLE_TO)),
        Category(CAVEAT, "RESTRICTIVE", values=(("ORIGINATOR-ONLY", 1), ("ORCON", 2)), oid=tagset_oid(party, CAVEAT)),
    )


def write_spif(
    scheme: Scheme,
    *,
    equivalences: Mapping[str, Iterable[tuple[Level, Level]]] | None = None,
    agreement: str | None = None,
) -> bytes:
    """The SPIF document of ``scheme``.

    Args:
        scheme: the national scheme.
        equivalences: equivalent policy name -> pairs (level of this scheme, equivalent level there).
        agreement: the agreement the equivalences come from (``docRefURI``).
    """
    oid = scheme.policy_id or policy_oid(scheme.party)
    root = etree.Element(
        f"{_S}SPIF",
        nsmap={"spif": NS, "accord": ACC},
        schemaVersion="2.1",
        version="1",
        creationDate="20260101000000Z",
        originatorDN="CN=Accord",
        keyIdentifier="00",
        privilegeId=oid,
        rbacId=oid,
    )
    etree.SubElement(root, f"{_S}securityPolicyId", name=scheme.party, id=oid)
    meta = etree.SubElement(root, f"{_A}scheme", name=scheme.name)
    if scheme.basis:
        meta.set("basis", scheme.basis)
    classes = etree.SubElement(root, f"{_S}securityClassifications")
    eq = {p: dict(pairs) for p, pairs in (equivalences or {}).items()}
    for lv in sorted(scheme.levels, key=lambda x: x.rank):
        el = etree.SubElement(
            classes, f"{_S}securityClassification", name=lv.marking, lacv=str(lv.lacv), hierarchy=str(lv.rank)
        )
        el.set(f"{_A}key", lv.key)
        el.set(f"{_A}english", lv.english)
        md = etree.SubElement(el, f"{_S}markingData", phrase=lv.marking)
        etree.SubElement(md, f"{_S}code").text = "pageTopBottom"
        for m in lv.other_markings:
            etree.SubElement(el, f"{_A}marking").text = m
        for al in lv.aliases:
            etree.SubElement(el, f"{_A}alias").text = al
        for policy in sorted(eq):
            target = eq[policy].get(lv)
            if target is not None:
                etree.SubElement(
                    el, f"{_S}equivalentClassification", policyRef=policy, lacv=str(target.lacv), applied="both"
                )
    cats = scheme.categories or default_categories(scheme.party)
    sets = etree.SubElement(root, f"{_S}securityCategoryTagSets")
    for c in cats:
        ts = etree.SubElement(
            sets, f"{_S}securityCategoryTagSet", name=c.name, id=c.oid or tagset_oid(scheme.party, c.name)
        )
        tt, et = _KINDS[c.kind]
        tag = etree.SubElement(ts, f"{_S}securityCategoryTag", name=c.name, tagType=tt)
        if et is not None:
            tag.set("enumType", et)
        for v, lacv in c.values:
            etree.SubElement(tag, f"{_S}tagCategory", name=v, lacv=str(lacv))
        if c.prefix:
            mq = etree.SubElement(tag, f"{_S}markingQualifier", markingCode="pageTopBottom")
            etree.SubElement(mq, f"{_S}qualifier", markingQualifier=c.prefix, qualifierCode="prefix")
            etree.SubElement(mq, f"{_S}qualifier", markingQualifier=c.separator, qualifierCode="separator")
    if eq:
        pols = etree.SubElement(root, f"{_S}equivalentPolicies")
        for policy in sorted(eq):
            ep = etree.SubElement(pols, f"{_S}equivalentPolicy", name=policy, id=policy_oid(policy))
            if agreement:
                ep.set("docRefURI", f"urn:accord:agreement:{agreement}")
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# ---------------------------------------------------------------------------------------------
# Loading


def read_spif(path: Path) -> Spif:
    """Parse one SPIF file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpifError(f"cannot read: {exc.strerror}", source=str(path)) from None
    return parse_spif(data, source=str(path))


def load_spifs(directory: Path) -> list[Spif]:
    """Every ``*.xml`` SPIF in ``directory`` (sorted), each a nation; two for one nation are refused."""
    files = sorted(directory.glob("*.xml"))
    out: list[Spif] = []
    seen: dict[str, str] = {}
    for f in files:
        spif = read_spif(f)
        party = spif.scheme.party
        if f.stem != party:
            raise SpifError(
                f"the file is named {f.stem} but defines {party}: name it {party}.xml",
                source=str(f),
                field="securityPolicyId/@name",
            )
        if party in seen:
            raise SpifError(
                f"{party} is already defined by {seen[party]}", source=str(f), field="securityPolicyId/@name"
            )
        seen[party] = str(f)
        out.append(spif)
    return out


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
