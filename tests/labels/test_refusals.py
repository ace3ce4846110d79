"""Ambiguity is refused, never resolved (one clear error; exit 2 from the CLI); URI attributes are checked."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import get_app
from accord.errors import LabelError
from accord.formats.stanag4774 import label_from_xml, load_label

KOR = (Path(__file__).parent.parent / "vectors" / "labels" / "kor-missile-secret.xml").read_text()
CLS = "<slab:Classification>군사Ⅱ급비밀</slab:Classification>"
POL = "<slab:PolicyIdentifier>KOR</slab:PolicyIdentifier>"
REL = '<slab:Category TagName="Releasable To" Type="PERMISSIVE">'


def doc(old: str, new: str) -> bytes:
    assert old in KOR
    return KOR.replace(old, new, 1).encode()


def refused(data: bytes, needle: str) -> None:
    with pytest.raises(LabelError, match=needle):
        load_label(data)


def test_two_classifications_refused_not_downgraded() -> None:
    # An attacker appends a lower classification, hoping a reader takes the last (or first) one.
    refused(doc(CLS, CLS + "<slab:Classification>군사Ⅲ급비밀</slab:Classification>"), "2 Classification elements")
    refused(doc(CLS, "<slab:Classification>군사Ⅲ급비밀</slab:Classification>" + CLS), "2 Classification elements")


def test_two_policy_identifiers_refused_not_chosen() -> None:
    refused(doc(POL, POL + "<slab:PolicyIdentifier>USA</slab:PolicyIdentifier>"), "2 PolicyIdentifier elements")


def test_repeated_category_refused_not_merged() -> None:
    extra = (
        '<slab:Category TagName="Releasable to" Type="PERMISSIVE"><slab:GenericValue>CHN</slab:GenericValue>'
        "</slab:Category>"
    )
    refused(doc(REL, extra + REL), "appears twice")  # same tag in another case is the same tag


def test_repeated_value_refused() -> None:
    refused(
        doc(
            "<slab:GenericValue>USA</slab:GenericValue>",
            "<slab:GenericValue>USA</slab:GenericValue><slab:GenericValue>USA</slab:GenericValue>",
        ),
        "repeats",
    )


def test_two_confidentiality_informations_refused() -> None:
    refused(
        doc(
            "</slab:ConfidentialityInformation>",
            "</slab:ConfidentialityInformation><slab:ConfidentialityInformation>"
            "<slab:PolicyIdentifier>USA</slab:PolicyIdentifier><slab:Classification>SECRET</slab:Classification>"
            "</slab:ConfidentialityInformation>",
        ),
        "2 ConfidentialityInformation",
    )


def test_foreign_element_among_the_confidentiality_information_refused() -> None:
    refused(doc(CLS, CLS + '<x:Rel xmlns:x="urn:x">CHN</x:Rel>'), "unexpected element")


def test_releasable_to_as_restrictive_refused() -> None:
    refused(doc(REL, '<slab:Category TagName="Releasable To" Type="RESTRICTIVE">'), "must be PERMISSIVE")


def test_unknown_restrictive_category_still_refused() -> None:
    refused(doc('TagName="Topic"', 'TagName="Nickname"'), "not understood")


def test_look_alike_nation_code_refused() -> None:
    refused(doc("<slab:GenericValue>USA</slab:GenericValue>", "<slab:GenericValue>usa</slab:GenericValue>"), "alpha-3")


def test_bom_contradicting_the_declared_encoding_refused() -> None:
    data = codecs.BOM_UTF16_LE + KOR.replace("encoding='UTF-8'", "encoding='ISO-8859-1'").encode("utf-16-le")
    refused(data, "byte-order mark says UTF-16")


def test_doctype_refused() -> None:
    root = "<slab:originatorConfidentialityLabel"
    refused(doc(root, '<!DOCTYPE x [<!ENTITY a "b">]>' + root), "DOCTYPE")


def test_oversized_label_refused() -> None:
    end = "</slab:originatorConfidentialityLabel>"
    refused(doc(end, "<!--" + "x" * 300_000 + "-->" + end), "larger than")


# -- URI attributes (ADatP-4774 §4, App. 2)


def test_policy_uri_naming_nato_on_a_national_policy_refused() -> None:
    refused(
        doc(POL, '<slab:PolicyIdentifier URI="urn:oid:1.3.26.1.3.1">KOR</slab:PolicyIdentifier>'),
        "name different policies",
    )


def test_nato_policy_with_another_oid_refused() -> None:
    refused(
        doc(POL, '<slab:PolicyIdentifier URI="urn:oid:1.2.3">NATO</slab:PolicyIdentifier>'), "name different policies"
    )


def test_policy_uri_that_is_not_an_oid_urn_refused() -> None:
    refused(doc(POL, '<slab:PolicyIdentifier URI="http://example.org/kor">KOR</slab:PolicyIdentifier>'), "urn:oid")


def test_classification_uri_refused() -> None:
    refused(doc(CLS, '<slab:Classification URI="urn:oid:1.2.3">군사Ⅱ급비밀</slab:Classification>'), "SHALL NOT")


def test_category_uri_of_another_nato_tag_refused() -> None:
    refused(
        doc(REL, '<slab:Category TagName="Releasable To" Type="PERMISSIVE" URI="urn:oid:1.3.26.1.4.5">'),
        "NATO's 'Only' tag set",
    )


def test_releasable_to_with_a_foreign_tag_set_refused() -> None:
    refused(
        doc(REL, '<slab:Category TagName="Releasable To" Type="PERMISSIVE" URI="urn:oid:1.2.3.4">'),
        "not urn:oid:1.3.26.1.4.2",
    )


def test_correct_uris_are_accepted() -> None:
    nato_rel = '<slab:Category TagName="Releasable To" Type="PERMISSIVE" URI="urn:oid:1.3.26.1.4.2">'
    lab = label_from_xml(doc(REL, nato_rel))
    assert lab.releasable_to == {"JPN", "USA"}


# -- from the CLI: one line, exit 2, nothing decided


@pytest.mark.parametrize(
    ("mutation", "needle"),
    [
        ((CLS, CLS + "<slab:Classification>군사Ⅲ급비밀</slab:Classification>"), "Classification"),
        ((POL, POL + "<slab:PolicyIdentifier>USA</slab:PolicyIdentifier>"), "PolicyIdentifier"),
        (
            (
                REL,
                '<slab:Category TagName="RELEASABLE TO" Type="PERMISSIVE"><slab:GenericValue>CHN</slab:GenericValue>'
                "</slab:Category>" + REL,
            ),
            "appears twice",
        ),
    ],
)
def test_ambiguous_label_exits_2_with_one_line(tmp_path: Path, mutation: tuple[str, str], needle: str) -> None:
    f = tmp_path / "l.xml"
    f.write_bytes(doc(*mutation))
    for args in (
        ["decide", "--label", str(f), "--from", "KOR", "--to", "JPN", "--at", "2017-06-01"],
        ["label", "validate", str(f)],
    ):
        r = CliRunner().invoke(get_app(), args)
        assert r.exit_code == 2, r.output
        assert r.output.startswith("error: ") and needle in r.output
        assert "Traceback" not in r.output and "ALLOWED" not in r.output


def test_label_values_that_would_write_an_ambiguous_label_are_refused() -> None:
    from datetime import UTC, datetime

    from accord.core.labels import Caveat, Label, PolicyCategory

    base = {
        "originator": "NATO",
        "classification": "SECRET",
        "topics": frozenset(),
        "releasable_to": frozenset(),
        "created": datetime(2020, 1, 1, tzinfo=UTC),
    }
    with pytest.raises(LabelError, match="interpreted by Accord"):
        Label(**base, categories=(PolicyCategory("Releasable to", "PERMISSIVE", ("CHN",)),))  # type: ignore[arg-type]
    with pytest.raises(LabelError, match="repeated"):
        Label(
            **base,
            categories=(
                PolicyCategory("Context", "PERMISSIVE", ("NATO",)),  # type: ignore[arg-type]
                PolicyCategory("context", "PERMISSIVE", ("EAPC",)),
            ),
        )
    with pytest.raises(LabelError, match="national policy"):
        Label(
            **{**base, "originator": "KOR"},  # type: ignore[arg-type]
            categories=(PolicyCategory("Context", "PERMISSIVE", ("NATO",)),),
        )
    with pytest.raises(LabelError, match="originator only"):
        Label(
            **{**base, "originator": "KOR"},
            only=frozenset({"JPN"}),  # type: ignore[arg-type]
            caveats=frozenset({Caveat.ORIGINATOR_ONLY}),
        )
