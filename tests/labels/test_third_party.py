"""Labels written by other software: the standard's examples, spiffing's NATO data, an office plug-in,
a 4778 binding and an alternative label. Read, then decided (or refused for a stated reason)."""

from __future__ import annotations

import codecs
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from accord.core.agreements import AgreementSet
from accord.core.decision import Code, decide
from accord.core.groups import GROUPS, group_members
from accord.core.labels import Caveat, Label
from accord.errors import LabelError
from accord.formats.stanag4774 import label_from_xml, label_to_xml, load_label, read_label_documents

TP = Path(__file__).parent.parent / "vectors" / "labels" / "third-party"
SPIFFING_ORIGINAL_17_1 = b"""<originatorConfidentialityLabel
 xmlns="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0">
<ConfidentialityInformation>
<PolicyIdentifier URL="urn:oid:1.3.26.1.3.1">NATO</PolicyIdentifier>
<Classification>UNCLASSIFIED</Classification>
<Category TagName="Context" Type="PERMISSIVE"><GenericValue>NATO</GenericValue></Category>
</ConfidentialityInformation>
</originatorConfidentialityLabel>"""


def read(name: str) -> Label:
    return load_label((TP / name).read_bytes(), source=name)


def test_annex_b_example_is_read_and_its_nato_policy_decided_as_a_denial(aset: AgreementSet) -> None:
    lab = read("adatp4774-annex-b2.xml")
    assert (lab.originator, lab.classification, lab.releasable_to) == ("NATO", "RESTRICTED", {"SWE", "FIN"})
    assert lab.id == "ID_1"  # a label from elsewhere: its label id is the only identifier of the item
    d = decide(lab, "USA", "JPN", date(2017, 6, 1), agreements=aset)
    assert not d.allowed
    assert [r.code for r in d.denials] == [Code.UNKNOWN_PARTY]
    assert "NATO policy, which no agreement Accord holds covers" in d.denials[0].message


def test_spiffing_groups_are_groups() -> None:
    lab = read("spiffing-nato-17-1.xml")
    assert lab.releasable_to == {"NATO", "ISAF", "KFOR", "RESOLUTE SUPPORT"}
    assert [c.tag for c in lab.categories] == ["Context"]
    in_force = lab.effective_at(date(2021, 1, 1))
    assert "USA" in in_force.releasable_to and "JPN" not in in_force.releasable_to
    assert "MKD" not in in_force.releasable_to  # joined NATO 2020-03-27, after the label's creation
    assert in_force.releasable_to == group_members("NATO", date(2020, 1, 1), date(2021, 1, 1))


def test_nato_only_is_a_list_of_nations_and_groups() -> None:
    lab = read("spiffing-nato-17-6.xml")
    assert lab.only == {"NATO", "IRL", "SWE", "UKR"} and not lab.caveats
    assert "IRL, NATO, SWE, UKR ONLY" in lab.banner
    assert {c.tag for c in lab.categories} == {"Context", "Additional Sensitivity"}
    assert lab.level is None  # uninterpreted access-control categories: nothing can be decided on it
    assert {"IRL", "UKR", "USA"} <= lab.effective_at(date(2021, 1, 1)).releasable_to
    assert label_from_xml(label_to_xml(lab)) == lab  # written back as read


def test_only_narrows_releasable_to_for_a_national_label(aset: AgreementSet) -> None:
    xml = (
        (TP.parent / "kor-missile-secret.xml")
        .read_bytes()
        .replace(
            b"  </slab:ConfidentialityInformation>",
            b'    <slab:Category TagName="Only" Type="PERMISSIVE"><slab:GenericValue>JPN</slab:GenericValue>'
            b"</slab:Category>\n  </slab:ConfidentialityInformation>",
        )
    )
    lab = label_from_xml(xml)
    assert lab.only == {"JPN"} and Caveat.ORIGINATOR_ONLY not in lab.caveats
    assert decide(lab, "KOR", "JPN", date(2017, 6, 1), agreements=aset).allowed
    usa = decide(lab, "KOR", "USA", date(2017, 6, 1), agreements=aset)
    assert [r.code for r in usa.denials] == [Code.NOT_RELEASABLE]


def test_only_the_originator_is_still_originator_only(aset: AgreementSet) -> None:
    lab = label_from_xml((TP.parent / "usa-noforn.xml").read_bytes())
    assert lab.caveats == {Caveat.ORIGINATOR_ONLY} and not lab.only


def test_releasable_to_nato_reaches_members_only(aset: AgreementSet) -> None:
    lab = Label(
        originator="KOR",
        classification="군사Ⅱ급비밀",
        topics=frozenset({"DPRK-MISSILE"}),
        releasable_to=frozenset({"NATO"}),
        created=datetime(2017, 1, 1, tzinfo=UTC),
        id="k-1",
    )
    assert decide(lab, "KOR", "USA", date(2017, 6, 1), agreements=aset).allowed
    assert [r.code for r in decide(lab, "KOR", "JPN", date(2017, 6, 1), agreements=aset).denials] == [
        Code.NOT_RELEASABLE
    ]


def test_group_membership_must_hold_on_both_days() -> None:
    assert "GBR" in group_members("EU", date(2019, 1, 1))
    assert "GBR" not in group_members("EU", date(2019, 1, 1), date(2021, 1, 1))  # left 2020-01-31
    assert "FIN" not in group_members("NATO", date(2020, 1, 1), date(2024, 1, 1))  # joined 2023-04-04
    assert group_members("KFOR", date(2020, 1, 1)) == frozenset()  # membership not held: matches no nation
    assert all(g.source for g in GROUPS.values())


def test_office_plugin_utf16_label_goes_to_the_xml_reader(aset: AgreementSet) -> None:
    data = (TP / "office-plugin-usa-utf16.xml").read_bytes()
    assert data.startswith(codecs.BOM_UTF16_LE)
    lab = load_label(data)
    assert lab.releasable_to == {"JPN", "KOR"}  # "Releasable to": the standard's own spelling
    assert lab.review == datetime(2030, 6, 29, 10, tzinfo=UTC)  # zoneless: its earliest instant (-14:00 .. +14:00)
    assert decide(lab, "USA", "JPN", date(2021, 1, 1), agreements=aset).allowed


def test_utf16_big_endian_and_utf8_bom_are_read() -> None:
    text = (TP / "office-plugin-usa-utf16.xml").read_bytes().decode("utf-16")
    assert load_label(codecs.BOM_UTF16_BE + text.encode("utf-16-be")).originator == "USA"
    utf8 = text.replace('encoding="UTF-16"', 'encoding="UTF-8"')
    assert load_label(codecs.BOM_UTF8 + utf8.encode()).originator == "USA"


def test_binding_from_another_tool_gives_its_originator_label(aset: AgreementSet) -> None:
    docs = read_label_documents((TP / "binding-4778-kor.xml").read_bytes())
    assert [d.kind for d in docs] == ["originator", "alternative"]
    lab = read("binding-4778-kor.xml")
    assert lab.originator == "KOR"
    assert lab.id is None  # its label Id "_2017-0042" is an XML name but not an id in Accord's grammar
    assert decide(lab, "KOR", "JPN", date(2017, 6, 1), agreements=aset).allowed


def test_alternative_label_is_read_but_not_decided_on() -> None:
    [doc] = read_label_documents((TP / "alternative-jpn.xml").read_bytes())
    assert doc.kind == "alternative" and doc.label.originator == "JPN" and doc.label.marking == "極秘"
    with pytest.raises(LabelError, match="alternativeConfidentialityLabel"):
        read("alternative-jpn.xml")


def test_spiffing_original_without_creation_time_is_refused_clearly() -> None:
    with pytest.raises(LabelError, match="CreationDateTime is missing"):
        load_label(SPIFFING_ORIGINAL_17_1)


@pytest.mark.parametrize("name", sorted(p.name for p in TP.glob("*.xml")))
def test_every_third_party_vector_is_read(name: str) -> None:
    assert read_label_documents((TP / name).read_bytes(), source=name)
