"""STANAG 4778 bindings: the label and the data object's digest, signed by the originator's keys."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from accord.cli import get_app
from accord.core.labels import Label
from accord.errors import IntegrityError, LabelError, TrustError
from accord.formats import stanag4778 as mb
from accord.formats.stanag4774 import label_to_xml, load_label
from accord.sealed.keys import PartyKeys, Roster
from accord.sealed.verifiers import RosterKeys
from tests.labels.xsd import assert_valid, binding_schema

T0 = datetime(2017, 1, 5, 9, tzinfo=UTC)
DATA = b"DPRK missile launch report"


def lab(originator: str = "KOR", classification: str = "군사Ⅱ급비밀") -> Label:
    return Label(
        originator=originator,
        classification=classification,
        topics=frozenset({"DPRK-MISSILE"}),
        releasable_to=frozenset({"JPN", "USA"}),
        created=T0,
        id="2017-0042",
    )


@pytest.fixture(scope="module")
def keys() -> dict[str, PartyKeys]:
    return {p: PartyKeys.generate(p) for p in ("KOR", "JPN")}


@pytest.fixture(scope="module")
def roster(keys: dict[str, PartyKeys]) -> RosterKeys:
    r = Roster()
    for k in keys.values():
        r.pin(Roster.first_entry(k))
    return RosterKeys(r)  # the pinned roster as the binding's SignatureChecker


def test_bind_and_verify(keys: dict[str, PartyKeys], roster: RosterKeys) -> None:
    doc = mb.bind(lab(), DATA, alternatives=[lab("JPN", "極秘")], keys=keys["KOR"])
    assert_valid(doc, binding_schema())
    v = mb.verify_binding(doc, DATA, roster)
    assert (v.label, v.signer, v.alternatives) == (lab(), "KOR", (lab("JPN", "極秘"),))
    assert v.data_uri == mb.data_uri(DATA) and v.data_uri.startswith("ni:///sha-384;")
    assert load_label(doc) == lab()  # `accord decide --label` reads a binding


def test_downgraded_label_in_a_signed_binding_fails(keys: dict[str, PartyKeys], roster: RosterKeys) -> None:
    doc = mb.bind(lab(), DATA, keys=keys["KOR"])
    forged = doc.replace("군사Ⅱ급비밀".encode(), "군사Ⅲ급비밀".encode())
    with pytest.raises(IntegrityError):
        mb.verify_binding(forged, DATA, roster)


def test_added_releasability_in_a_signed_binding_fails(keys: dict[str, PartyKeys], roster: RosterKeys) -> None:
    doc = mb.bind(lab(), DATA, keys=keys["KOR"])
    forged = doc.replace(
        b"<slab:GenericValue>USA</slab:GenericValue>",
        b"<slab:GenericValue>USA</slab:GenericValue><slab:GenericValue>CHN</slab:GenericValue>",
    )
    with pytest.raises(IntegrityError):
        mb.verify_binding(forged, DATA, roster)


def test_other_data_object_fails(keys: dict[str, PartyKeys], roster: RosterKeys) -> None:
    with pytest.raises(IntegrityError):
        mb.verify_binding(mb.bind(lab(), DATA, keys=keys["KOR"]), DATA + b"!", roster)


def test_whitespace_and_reindenting_do_not_break_the_signature(keys: dict[str, PartyKeys], roster: RosterKeys) -> None:
    doc = mb.bind(lab(), DATA, keys=keys["KOR"])
    root = etree.fromstring(doc)
    etree.indent(root, space="\t")
    assert mb.verify_binding(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), DATA, roster)


def test_a_party_binds_only_its_own_labels(keys: dict[str, PartyKeys]) -> None:
    with pytest.raises(LabelError, match="binds only the labels it originates"):
        mb.bind(lab(), DATA, keys=keys["JPN"])


def test_binding_signed_by_another_party_than_the_originator_is_untrusted(
    keys: dict[str, PartyKeys], roster: RosterKeys
) -> None:
    # JPN re-signs a binding of a label it claims KOR wrote.
    doc = mb.bind(lab(), DATA)  # unsigned
    root = etree.fromstring(doc)
    kid = keys["JPN"].sign_key_id
    sig = keys["JPN"].sign(mb._signed_bytes(root, "JPN", kid))
    el = etree.SubElement(root, mb.SIG_TAG, party="JPN", keyid=kid)
    el.text = base64.b64encode(sig).decode()
    with pytest.raises(TrustError, match="originator is KOR"):
        mb.verify_binding(etree.tostring(root), DATA, roster)


def test_signature_attributes_are_signed(keys: dict[str, PartyKeys], roster: RosterKeys) -> None:
    doc = mb.bind(lab(), DATA, keys=keys["KOR"])
    with pytest.raises((IntegrityError, TrustError)):
        mb.verify_binding(doc.replace(b'party="KOR"', b'party="JPN"'), DATA, roster)


def test_unsigned_binding_and_unknown_key_are_untrusted(keys: dict[str, PartyKeys], roster: RosterKeys) -> None:
    with pytest.raises(TrustError, match="no Accord binding signature"):
        mb.verify_binding(mb.bind(lab(), DATA), DATA, roster)
    stranger = PartyKeys.generate("KOR")
    with pytest.raises(TrustError):
        mb.verify_binding(mb.bind(lab(), DATA, keys=stranger), DATA, roster)


def test_two_signatures_refused(keys: dict[str, PartyKeys], roster: RosterKeys) -> None:
    doc = mb.bind(lab(), DATA, keys=keys["KOR"])
    root = etree.fromstring(doc)
    root.append(etree.fromstring(etree.tostring(root.find(mb.SIG_TAG))))
    with pytest.raises(LabelError, match="more than one binding signature"):
        mb.verify_binding(etree.tostring(root), DATA, roster)


def test_two_originator_labels_in_a_binding_refused() -> None:
    doc = mb.bind(lab(), DATA)
    root = etree.fromstring(doc)
    binding = root.find(f"{{{mb.NS}}}MetadataBindingContainer/{{{mb.NS}}}MetadataBinding")
    assert binding is not None
    meta = etree.SubElement(binding, f"{{{mb.NS}}}Metadata")
    meta.append(etree.fromstring(label_to_xml(lab(classification="군사Ⅲ급비밀")).replace(b"olab.", b"olab2.")))
    binding.append(binding.find(f"{{{mb.NS}}}DataReference"))  # keep Metadata before Data
    with pytest.raises(LabelError, match="2 originator labels"):
        load_label(etree.tostring(root))


def test_label_by_reference_refused() -> None:
    doc = (
        b'<mb:BindingInformation xmlns:mb="urn:nato:stanag:4778:bindinginformation:1:0">'
        b'<mb:MetadataBindingContainer><mb:MetadataBinding><mb:MetadataReference URI="http://x/label.xml"/>'
        b'<mb:DataReference URI="http://x/doc"/></mb:MetadataBinding></mb:MetadataBindingContainer>'
        b"</mb:BindingInformation>"
    )
    with pytest.raises(LabelError, match="MetadataReference"):
        load_label(doc)


def test_two_labels_in_one_metadata_refused() -> None:
    one = label_to_xml(lab()).split(b"?>", 1)[1]
    doc = (
        b'<mb:BindingInformation xmlns:mb="urn:nato:stanag:4778:bindinginformation:1:0">'
        b"<mb:MetadataBindingContainer><mb:MetadataBinding><mb:Metadata>"
        + one
        + one
        + b'</mb:Metadata><mb:DataReference URI="http://x/doc"/></mb:MetadataBinding></mb:MetadataBindingContainer>'
        b"</mb:BindingInformation>"
    )
    with pytest.raises(LabelError, match="exactly one element"):
        load_label(doc)


def test_cli_bind_and_verify(tmp_path: Path) -> None:
    run = CliRunner().invoke
    app = get_app()
    roster_dir = tmp_path / "roster"
    assert (
        run(
            app, ["keys", "init", "--party", "KOR", "--dir", str(tmp_path / "k"), "--roster", str(roster_dir)]
        ).exit_code
        == 0
    )
    (tmp_path / "l.xml").write_bytes(label_to_xml(lab()))
    (tmp_path / "d.bin").write_bytes(DATA)
    out = tmp_path / "b.xml"
    r = run(
        app,
        [
            "label",
            "bind",
            "--label",
            str(tmp_path / "l.xml"),
            "--data",
            str(tmp_path / "d.bin"),
            "--keys",
            str(tmp_path / "k"),
            "--out",
            str(out),
            "--alternative",
            "JPN=GOKUHI",
        ],
    )
    assert r.exit_code == 0, r.output
    assert_valid(out.read_bytes(), binding_schema())
    r = run(
        app,
        ["label", "verify-binding", str(out), "--data", str(tmp_path / "d.bin"), "--roster", str(roster_dir), "--json"],
    )
    assert r.exit_code == 0, r.output
    assert '"signer": "KOR"' in r.output
    (tmp_path / "d.bin").write_bytes(DATA + b"x")
    r = run(app, ["label", "verify-binding", str(out), "--data", str(tmp_path / "d.bin"), "--roster", str(roster_dir)])
    assert r.exit_code == 1 and "integrity check failed" in r.output
    r = run(
        app,
        [
            "label",
            "bind",
            "--label",
            str(tmp_path / "l.xml"),
            "--data",
            str(tmp_path / "d.bin"),
            "--keys",
            str(tmp_path / "k"),
            "--out",
            str(out),
            "--alternative",
            "JPN=TOP",
        ],
    )
    assert r.exit_code == 2 and r.output.startswith("error:")
    r = run(app, ["decide", "--label", str(out), "--from", "KOR", "--to", "JPN", "--at", "2017-06-01"])
    assert r.exit_code == 0, r.output
