"""The bundled 2023 mechanism and the `based_on` field that ties it to TISA (M-R5)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from accord.errors import AgreementError
from accord.formats.agreement_yaml import bundled_dir, load_agreements, parse_agreement

MW = bundled_dir() / "kor-jpn-usa-missile-warning.yaml"


def test_the_mechanism_is_bundled_with_its_sources_and_assumptions() -> None:
    ag = load_agreements().get("kor-jpn-usa-missile-warning")
    assert ag is not None and ag.hub == "USA" and ag.based_on == "kor-jpn-usa-tisa"
    assert ag.terms.topics == {"DPRK-MISSILE-WARNING"}
    assert str(ag.lifecycle.in_force) == "2023-12-19"
    assert ag.onward_release_requires_consent  # T-R5 applies; the relay consent is standing (M-R5)
    assert "[I]" in ag.provenance["onward_release_requires_consent"]  # assumed, and said so
    assert "sourced" in ag.provenance["hub"] and "[gap]" in ag.provenance["equivalence"]


@pytest.mark.parametrize(
    ("value", "message"),
    [(42, "not the id"), ("Not An Id", "not the id"), ("kor-jpn-usa-missile-warning", "not the id")],
)
def test_based_on_must_name_another_agreement(value: object, message: str) -> None:
    doc = yaml.safe_load(MW.read_text())
    doc["based_on"] = value
    with pytest.raises(AgreementError, match=message) as exc:
        parse_agreement(doc, source="mw.yaml")
    assert exc.value.field == "based_on"


def test_based_on_must_be_loaded_and_bind_every_party(tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in ("kor-jpn-usa-missile-warning.yaml", "kor-usa-security-agreement.yaml", "jpn-usa-gsomia.yaml"):
        shutil.copy(bundled_dir() / name, alone)
    with pytest.raises(AgreementError, match="no agreement with id 'kor-jpn-usa-tisa'") as exc:
        load_agreements(alone)
    assert exc.value.field == "based_on"
    narrow = tmp_path / "narrow"
    shutil.copytree(bundled_dir(), narrow)
    doc = yaml.safe_load(MW.read_text())
    doc["based_on"] = "kor-usa-security-agreement"
    (narrow / "kor-jpn-usa-missile-warning.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    with pytest.raises(AgreementError, match="does not bind every party"):
        load_agreements(narrow)
