"""Agreement documents: the bundled ones load; every kind of bad document is refused clearly."""

import shutil
from pathlib import Path

import pytest
import yaml

from accord.errors import AgreementError
from accord.formats.agreement_yaml import bundled_dir, load_agreements, parse_agreement

GSOMIA = bundled_dir() / "jpn-kor-gsomia.yaml"


def test_bundled_agreements_load_with_provenance() -> None:
    aset = load_agreements()
    assert [a.id for a in aset] == [
        "jpn-kor-gsomia",
        "jpn-usa-gsomia",
        "kor-usa-security-agreement",
        "kor-jpn-usa-missile-warning",
        "kor-jpn-usa-tisa",
    ]
    for ag in aset:
        assert ag.provenance, f"{ag.id} must say what is sourced and what is assumed"
        assert ag.source is not None and ag.source.endswith(".yaml")
    tisa = aset.get("kor-jpn-usa-tisa")
    assert tisa is not None and tisa.hub == "USA" and tisa.terms.topics == {"DPRK-MISSILE", "DPRK-NUCLEAR"}
    assert tisa.legal_status.value == "not-legally-binding"


def _doc() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(GSOMIA.read_text())


def _set(doc: dict, path: str, value: object) -> None:  # type: ignore[type-arg]
    keys = path.split(".")
    cur = doc
    for k in keys[:-1]:
        cur = cur[int(k)] if isinstance(cur, list) else cur[k]
    last = keys[-1]
    if value is _DELETE:
        del cur[last]
    elif isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field", "needle"),
    [
        ("id", "Bad Id", "id", "lower-case"),
        ("title", _DELETE, "title", "required"),
        ("kind", "trilateral", "kind", "bilateral, multilateral"),
        ("parties", ["JPN", "KOR", "USA"], "parties", "exactly two"),
        ("parties", ["JPN", "JP"], "parties[1]", "alpha-3"),
        ("hub", "USA", "hub", "no hub"),
        ("legal_status", "binding-ish", "legal_status", "legally-binding"),
        ("onward_release_requires_consent", "yes", "onward_release_requires_consent", "true or false"),
        ("scope.topics", [], "scope.topics", "non-empty list"),
        ("scope.topics", ["missiles"], "scope.topics[0]", "topic token"),
        ("equivalence", [], "equivalence", "non-empty list"),
        ("equivalence.0.levels.JPN", "TOP SECRET", "equivalence[0].levels.JPN", "not a level of JPN"),
        ("equivalence.1.levels.KOR", "군사Ⅱ급비밀", "equivalence[1].levels.KOR", "already appears"),
        ("equivalence.0.levels", {"JPN": "極秘"}, "equivalence[0].levels", "at least two"),
        ("citations.treaty", {"article": "Art. 1"}, "citations", "unknown field"),
        ("lifecycle.in_force", "2016-13-01", "lifecycle.in_force", "YYYY-MM-DD"),
        ("lifecycle.in_force", "2016-11-01", "lifecycle.in_force", "before signature"),
        ("lifecycle.term_years", 0, "lifecycle.term_years", "positive integer"),
        ("lifecycle.events.1.type", "denounced", "lifecycle.events[1].type", "notice-of-termination"),
        ("lifecycle.events.1.by", "USA", "lifecycle.events[1].by", "not a party"),
        ("lifecycle.events.1.date", "2015-01-01", "lifecycle.events[1].date", "before entry into force"),
        ("lifecycle.events.1.effective", "2019-01-01", "lifecycle.events[1].effective", "before the event"),
        ("colour", "blue", "(document)", "unknown field"),
    ],
)
def test_bad_document_names_file_field_and_problem(path: str, value: object, field: str, needle: str) -> None:
    doc = _doc()
    _set(doc, path, value)
    with pytest.raises(AgreementError) as exc:
        parse_agreement(doc, source="gsomia.yaml")
    assert exc.value.source == "gsomia.yaml"
    assert exc.value.field == field
    assert needle in exc.value.message
    assert str(exc.value).startswith(f"gsomia.yaml: {field}: ")


def test_yaml_duplicate_key_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "dup.yaml"
    bad.write_text(GSOMIA.read_text() + "\nkind: multilateral\n")
    with pytest.raises(AgreementError, match="duplicate key"):
        load_agreements(bad)


def test_one_bad_file_loads_nothing(tmp_path: Path) -> None:
    for f in bundled_dir().glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "zz-broken.yaml").write_text("id: broken\ntitle: [unclosed\n")
    with pytest.raises(AgreementError) as exc:
        load_agreements(tmp_path)
    assert exc.value.source == str(tmp_path / "zz-broken.yaml")


def test_duplicate_ids_and_dangling_references_are_refused(tmp_path: Path) -> None:
    shutil.copy(GSOMIA, tmp_path / "a.yaml")
    shutil.copy(GSOMIA, tmp_path / "b.yaml")
    with pytest.raises(AgreementError, match="also used by"):
        load_agreements(tmp_path)
    only_tisa = tmp_path / "tisa"
    only_tisa.mkdir()
    shutil.copy(bundled_dir() / "kor-jpn-usa-tisa.yaml", only_tisa)
    with pytest.raises(AgreementError) as exc:
        load_agreements(only_tisa)
    assert exc.value.field == "protection_basis[0]"


def test_missing_or_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(AgreementError, match="no such file"):
        load_agreements(tmp_path / "nope")
    with pytest.raises(AgreementError, match=r"no agreement documents"):
        load_agreements(tmp_path)


def test_multilateral_hub_must_be_a_party() -> None:
    doc = yaml.safe_load((bundled_dir() / "kor-jpn-usa-tisa.yaml").read_text())
    doc["hub"] = "GBR"
    with pytest.raises(AgreementError, match="not a party"):
        parse_agreement(doc, source="tisa.yaml")
