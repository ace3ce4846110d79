"""National policies as Open XML SPIF files: strict parsing, round trips, and SPIFs checked against agreements."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from accord.core.labels import Caveat, Label
from accord.errors import SpifError
from accord.formats.agreement_yaml import bundled_dir
from accord.formats.spif import (
    bundled_registry,
    bundled_spif_dir,
    parse_spif,
    render_banner,
    validate_label,
    write_spif,
)
from accord.formats.world import equivalence_pairs, export_spifs, load_world

KOR = (bundled_spif_dir() / "KOR.xml").read_bytes()


def _refused(data: bytes, field: str, problem: str) -> None:
    with pytest.raises(SpifError) as exc:
        parse_spif(data, source="t.xml")
    assert exc.value.field is not None and field in exc.value.field, exc.value.diagnostics()
    assert problem in exc.value.message, exc.value.diagnostics()
    assert exc.value.diagnostics().startswith("t.xml: ")


def test_bundled_spifs_define_the_three_nations() -> None:
    reg = bundled_registry()
    assert reg.parties == ("JPN", "KOR", "USA")
    kor = reg["KOR"]
    assert [lv.key for lv in kor.levels] == ["I", "II", "III", "DAEOEBI"]
    ii = kor.by_key("II")
    assert ii is not None and ii.marking == "군사Ⅱ급비밀" and ii.english == "SECRET" and ii.lacv == 3
    assert reg.level("JPN", "特定秘密") is reg["JPN"].by_key("GOKUHI")
    assert kor.category("releasable to") is not None and kor.category("Caveat") is not None


def test_write_then_parse_is_the_same_scheme() -> None:
    for scheme in bundled_registry():
        again = parse_spif(write_spif(scheme), source="x").scheme
        assert again.party == scheme.party and again.policy_id == scheme.policy_id
        assert all(a.same_as(b) for a, b in zip(scheme.levels, again.levels, strict=True))
        assert again.categories == scheme.categories


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        (b'lacv="3" hierarchy="3"', b'lacv="2" hierarchy="3"', "@lacv", "already used"),
        (b'lacv="3" hierarchy="3"', b'lacv="3" hierarchy="2"', "@hierarchy", "already used"),
        (b'accord:key="II"', b'accord:key="III"', "@accord:key", "already used"),
        (
            b"<accord:alias>KOR II</accord:alias>",
            b"<accord:alias>KOR III</accord:alias>",
            "securityClassification",
            "ambiguous",
        ),
        (b'schemaVersion="2.1"', b'schemaVersion="3.0"', "@schemaVersion", "not supported"),
        (b'<spif:securityPolicyId name="KOR"', b'<spif:securityPolicyId name="Korea"', "@name", "alpha-3"),
        (b'hierarchy="3"', b'hierarchy="3" colour="red"', "@colour", "not supported"),
        (b"<accord:alias>KOR II</accord:alias>", b"<spif:foo/>", "spif:foo", "not supported"),
        (b'lacv="3" hierarchy="3"', b'lacv="three" hierarchy="3"', "@lacv", "not a non-negative integer"),
    ],
)
def test_strict_parsing_refuses(old: bytes, new: bytes, field: str, problem: str) -> None:
    assert old in KOR
    _refused(KOR.replace(old, new, 1), field, problem)


def test_two_classifications_with_one_name_refused() -> None:
    ii, i = "군사Ⅱ급비밀".encode(), "군사Ⅰ급비밀".encode()
    data = KOR.replace(b'name="' + ii + b'"', b'name="' + i + b'"').replace(
        b'phrase="' + ii + b'"', b'phrase="' + i + b'"'
    )
    _refused(data, "@name", "already used")


def test_dtd_and_repeated_sections_refused() -> None:
    _refused(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + KOR.split(b"?>", 1)[1], "(document)", "DTD")
    start = KOR.index(b"<spif:securityPolicyId")
    end = KOR.index(b"/>", start) + 2
    twice = KOR[:end] + KOR[start:end] + KOR[end:]
    _refused(twice, "securityPolicyId", "repeated")


def test_equivalence_to_an_undeclared_policy_refused() -> None:
    data = KOR.replace(
        b"<accord:alias>KOR II</accord:alias>",
        b'<spif:equivalentClassification policyRef="JPN" lacv="2" applied="both"/>',
        1,
    )
    _refused(data, "@policyRef", "not declared")


def test_export_round_trip_reproduces_each_agreements_table(tmp_path: Path) -> None:
    aset = load_world()
    export_spifs(aset, tmp_path)
    for ag in aset:
        rows: dict[tuple[str, str], str] = {}
        for party in ag.parties:
            sp = parse_spif((tmp_path / "equivalence" / ag.id / f"{party}.xml").read_bytes(), source=party)
            for eq in sp.equivalences:
                target = aset.schemes[eq.policy].by_lacv(eq.lacv)
                assert target is not None and eq.agreement == ag.id
                rows[(party, eq.level.key)] = rows.get((party, eq.level.key), "") + f"{eq.policy}:{target.key};"
        expected = {
            (p, lv.key): "".join(
                f"{o}:{t.key};"
                for o, pairs in sorted(equivalence_pairs(ag, ag.terms, p).items())
                for mine, t in pairs
                if mine is lv
            )
            for p in ag.parties
            for pairs in equivalence_pairs(ag, ag.terms, p).values()
            for lv, _ in pairs
        }
        assert rows == expected
        for row in ag.terms.equivalence:  # every pair of a row is exported, in both directions
            for p, k in row.levels.items():
                assert all(f"{o}:{row.levels[o]};" in rows[(p, k)] for o in row.levels if o != p)
    # The export, with the agreements beside it, is itself a world that loads and checks.
    shutil.copytree(bundled_dir(), tmp_path / "agreements")
    assert len(load_world(tmp_path)) == len(aset)


def test_a_spif_contradicting_an_agreement_is_refused_at_load(tmp_path: Path) -> None:
    export_spifs(load_world(), tmp_path)
    shutil.copytree(bundled_dir(), tmp_path / "agreements")
    f = tmp_path / "equivalence" / "jpn-kor-gsomia" / "KOR.xml"
    text = f.read_bytes()
    # 군사Ⅱ급비밀 (lacv 3) maps to 極秘 (JPN lacv 2); claim 秘 (lacv 1) instead.
    start = text.index(b'accord:key="II"')
    at = text.index(b'policyRef="JPN" lacv="2"', start)
    f.write_bytes(text[:at] + b'policyRef="JPN" lacv="1"' + text[at + len(b'policyRef="JPN" lacv="2"') :])
    with pytest.raises(SpifError) as exc:
        load_world(tmp_path)
    msg = exc.value.diagnostics()
    assert str(f) in msg and "contradicts the jpn-kor-gsomia equivalence table" in msg and "極秘" in msg


def test_a_spif_mapping_a_level_the_agreement_excludes_is_refused(tmp_path: Path) -> None:
    # JK-R2: Top Secret is not in the Japan-ROK table; a national SPIF claiming 군사Ⅰ급비밀 ≡ 機密 contradicts it.
    (tmp_path / "spif").mkdir()
    shutil.copytree(bundled_dir(), tmp_path / "agreements")
    kor = bundled_registry()["KOR"]
    jpn = bundled_registry()["JPN"]
    top, kimitsu = kor.by_key("I"), jpn.by_key("KIMITSU")
    assert top is not None and kimitsu is not None
    (tmp_path / "spif" / "KOR.xml").write_bytes(
        write_spif(kor, equivalences={"JPN": [(top, kimitsu)]}, agreement="jpn-kor-gsomia")
    )
    with pytest.raises(SpifError, match="is not in the equivalence table of the jpn-kor-gsomia"):
        load_world(tmp_path)


def test_redefining_a_bundled_nation_differently_is_refused(tmp_path: Path) -> None:
    (tmp_path / "spif").mkdir()
    shutil.copytree(bundled_dir(), tmp_path / "agreements")
    (tmp_path / "spif" / "JPN.xml").write_bytes(
        (bundled_spif_dir() / "JPN.xml").read_bytes().replace(b'accord:english="SECRET"', b'accord:english="S"')
    )
    with pytest.raises(SpifError, match="contradicts the bundled policy"):
        load_world(tmp_path)
    (tmp_path / "spif" / "JPN.xml").write_bytes((bundled_spif_dir() / "JPN.xml").read_bytes())
    assert len(load_world(tmp_path)) == 5  # an identical copy is no contradiction (4 + the 2023 mechanism)


def _label(**kw: object) -> Label:
    base: dict[str, object] = {
        "originator": "KOR",
        "classification": "grade ii",
        "topics": frozenset({"DPRK-MISSILE"}),
        "releasable_to": frozenset({"USA", "JPN"}),
        "created": datetime(2017, 1, 1, tzinfo=UTC),
    }
    base.update(kw)
    return Label(**base)  # type: ignore[arg-type]


def test_labels_validated_against_their_policy_and_banners_rendered_from_it() -> None:
    reg = bundled_registry()
    assert validate_label(_label(), reg) == []
    assert render_banner(_label(), reg) == "KOR 군사Ⅱ급비밀 // DPRK-MISSILE // REL TO JPN, USA"
    assert render_banner(_label(caveats=frozenset({Caveat.ORIGINATOR_ONLY})), reg).endswith("KOR ONLY")
    bad = validate_label(_label(classification="SECRET"), reg)
    assert bad and bad[0].startswith("classification: 'SECRET' is not a classification of the KOR policy")
    assert validate_label(_label(originator="FRA"), reg) == ["PolicyIdentifier: no SPIF is loaded for FRA"]


VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "spif"


@pytest.mark.parametrize("name", sorted(json.loads((VECTORS / "invalid" / "expected.json").read_text())))
def test_invalid_vectors_are_refused(name: str) -> None:
    want = json.loads((VECTORS / "invalid" / "expected.json").read_text())[name]
    _refused((VECTORS / "invalid" / name).read_bytes(), want["field"], want["problem"])


def test_every_bundled_spif_is_valid() -> None:
    world = Path(str(bundled_spif_dir())).parent / "world" / "spif"
    for f in [*bundled_spif_dir().glob("*.xml"), *world.glob("*.xml")]:
        assert parse_spif(f.read_bytes(), source=str(f)).scheme.party == f.stem
