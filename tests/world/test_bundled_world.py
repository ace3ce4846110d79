"""The bundled example world (data/world): twelve nations, fourteen agreements, a hub-less multilateral."""

from __future__ import annotations

from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

import pytest

from accord.core.agreements import AgreementSet
from accord.core.decision import Code, decide
from accord.core.labels import Label
from accord.core.matrix import sharing_matrix
from accord.core.verify import verify
from accord.errors import AgreementError
from accord.formats.world import load_world

WORLD = Path(str(resources.files("accord") / "data" / "world"))


@pytest.fixture(scope="module")
def world() -> AgreementSet:
    return load_world(WORLD)


def _label(originator: str, marking: str, topic: str = "NATO-PROGRAMME") -> Label:
    return Label(
        originator=originator,
        classification=marking,
        topics=frozenset({topic}),
        releasable_to=frozenset({"KOR", "JPN", "USA", "GBR", "FRA", "ITA", "POL", "DEU", "CZE", "AUT", "AUS"}),
        created=datetime(2015, 1, 1, tzinfo=UTC),
    )


def test_world_includes_the_core_set_and_more_nations(world: AgreementSet) -> None:
    assert len(world) == 15 and "jpn-kor-gsomia" in world and "nato-security-agreement" in world  # + 2023 feed
    assert len(world.schemes) == 12 and world.parties == tuple(sorted(world.schemes.parties))


def test_every_agreement_marks_its_dates_sourced_or_assumed(world: AgreementSet) -> None:
    for ag in world:
        prov = " ".join(f"{k}: {v}" for k, v in ag.provenance.items())
        assert "lifecycle" in prov, ag.id
        assert "sourced" in prov or "assumed" in prov, ag.id


def test_nato_members_exchange_directly_without_the_us_hub(world: AgreementSet) -> None:
    d = decide(_label("GBR", "SECRET"), "GBR", "FRA", date(2015, 1, 1), agreements=world)
    assert d.allowed and d.route == ("GBR", "FRA") and d.agreements == ("nato-security-agreement",)
    assert d.marking == "SECRET DÉFENSE"
    other = decide(_label("GBR", "SECRET", "LOGISTICS"), "GBR", "FRA", date(2015, 1, 1), agreements=world)
    assert not other.allowed and {r.code for r in other.denials} == {Code.OUT_OF_SCOPE}  # N-R1


def test_japan_exchanges_top_secret_with_the_uk_but_not_korea(world: AgreementSet) -> None:
    uk = decide(_label("JPN", "機密", "ANY"), "JPN", "GBR", date(2017, 1, 1), agreements=world)
    assert uk.allowed and uk.marking == "TOP SECRET"
    kor = decide(_label("JPN", "機密", "ANY"), "JPN", "KOR", date(2017, 1, 1), agreements=world)
    assert not kor.allowed and Code.LEVEL_NOT_COVERED in {r.code for r in kor.denials}  # JK-R2


def test_no_channel_between_korea_and_the_uk(world: AgreementSet) -> None:
    d = decide(_label("KOR", "군사Ⅱ급비밀", "ANY"), "KOR", "GBR", date(2020, 1, 1), agreements=world)
    assert not d.allowed and d.denials[0].code is Code.NO_CHANNEL


def test_verify_and_matrix_over_the_world(world: AgreementSet) -> None:
    r = verify(world)
    assert r.ok and r.pairs == 12 * 11
    m = sharing_matrix(world, date(2020, 1, 1))
    assert m.cell("ITA", "JPN", "OTHER-CMI").marking == "機密"


def test_a_bad_world_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "world.yaml").write_text("include: [everything]\n")
    (tmp_path / "a.yaml").write_text("x: 1\n")
    with pytest.raises(AgreementError) as exc:
        load_world(tmp_path)
    assert exc.value.diagnostics().startswith(f"{tmp_path / 'world.yaml'}: include: ")
