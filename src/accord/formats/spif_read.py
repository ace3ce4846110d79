"""Strict parsing of Open XML SPIF files (Accord's subset of SPIF 2.1; spec: ``docs/spif.md``).

An unknown element or attribute, a repeated or ambiguous entry (two levels with one name, lacv,
hierarchy, key or spelling), a SPIF version other than 2.1, or a DTD is refused with
``file: field: problem`` (:class:`~accord.errors.SpifError`); nothing is guessed.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from accord.core.parties import is_alpha3
from accord.core.schemes import Category, Level, Scheme, normalise_marking
from accord.errors import SpifError
from accord.formats.spif_model import _A, _KEY, _KINDS, _OID, _S, MAX_BYTES, NS, XML_LANG, Equivalence, Spif


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
    by_tag = _top_elements(ctx, data)
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
    levels, raw_equiv = _classifications(ctx, classes, party)
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


def _top_elements(ctx: _Ctx, data: bytes) -> dict[str, etree._Element]:
    """The document parsed without DTD, entities or network; its SPIF root checked; its children by tag."""
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
    return by_tag


def _classifications(
    ctx: _Ctx, classes: etree._Element, party: str
) -> tuple[list[Level], list[tuple[Level, str, int, str]]]:
    """The levels of ``securityClassifications`` and their raw equivalences (level, policyRef, lacv, field)."""
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
        others, aliases, equivs = _level_children(ctx, el, f, marking)
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
    return levels, raw_equiv


def _level_children(
    ctx: _Ctx, el: etree._Element, f: str, marking: str
) -> tuple[list[str], list[str], list[tuple[str, int, str]]]:
    """A classification's other markings, aliases and equivalent classifications (policyRef, lacv, field)."""
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
    return others, aliases, equivs


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
