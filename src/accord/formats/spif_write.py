"""Writing a national scheme as an Open XML SPIF document (the form :mod:`accord.formats.spif_read` reads)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lxml import etree

from accord.core.schemes import Level, Scheme
from accord.formats.spif_model import _A, _KINDS, _S, ACC, NS, default_categories, policy_oid, tagset_oid


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
