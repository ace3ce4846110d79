"""Access: clearance AND need-to-know, never rank or clearance alone (JK-R14, JK-R15)."""

from datetime import date

import pytest

from accord.core.access import access
from accord.core.agreements import AgreementSet
from accord.core.persons import Person
from accord.errors import InputError
from tests.conftest import make_label

DAY = date(2017, 6, 1)


def person(**kw: object) -> Person:
    base: dict[str, object] = {
        "id": "analyst-1",
        "nationality": "JPN",
        "clearance": "極秘",
        "need_to_know": frozenset({"DPRK-MISSILE"}),
    }
    base.update(kw)
    return Person(**base)  # type: ignore[arg-type]


def test_cleared_official_with_need_to_know_has_access(aset: AgreementSet) -> None:
    d = access(person(), make_label(), "JPN", DAY, agreements=aset)
    assert d.allowed and d.marking == "極秘"


def test_higher_clearance_also_suffices(aset: AgreementSet) -> None:
    assert access(person(clearance="機密"), make_label(), "JPN", DAY, agreements=aset).allowed


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"clearance": "秘"}, "CLEARANCE_TOO_LOW"),
        ({"clearance": None, "rank": "General"}, "NO_CLEARANCE"),  # rank is never enough
        ({"clearance": "機密", "need_to_know": frozenset()}, "NO_NEED_TO_KNOW"),  # clearance alone is not
        ({"need_to_know": frozenset({"DPRK-NUCLEAR"})}, "NO_NEED_TO_KNOW"),
        ({"nationality": "USA", "clearance": "TOP SECRET"}, "NOT_HOLDER_NATIONAL"),
        ({"clearance": "SECRET"}, "UNKNOWN_CLEARANCE"),
        ({"clearance_until": date(2017, 5, 31)}, "CLEARANCE_EXPIRED"),
    ],
)
def test_access_is_refused(aset: AgreementSet, kw: dict[str, object], code: str) -> None:
    d = access(person(**kw), make_label(), "JPN", DAY, agreements=aset)
    assert not d.allowed
    assert d.reasons[0].code.value == code


def test_need_to_know_for_every_topic(aset: AgreementSet) -> None:
    lab = make_label(topics=("DPRK-MISSILE", "DPRK-NUCLEAR"))
    assert not access(person(), lab, "JPN", DAY, agreements=aset).allowed
    both = person(need_to_know=frozenset({"DPRK-MISSILE", "DPRK-NUCLEAR"}))
    assert access(both, lab, "JPN", DAY, agreements=aset).allowed


def test_access_to_legacy_items_survives_termination(aset: AgreementSet) -> None:
    """JK-R31: after termination the held item keeps its protection and equivalent marking."""
    what_if = aset.what_if(drop=[("jpn-kor-gsomia", date(2019, 11, 22))])
    later = date(2021, 1, 1)
    assert access(person(), make_label(), "JPN", later, agreements=what_if).allowed
    assert not access(person(clearance="秘"), make_label(), "JPN", later, agreements=what_if).allowed


def test_item_without_topic_gives_no_need_to_know(aset: AgreementSet) -> None:
    d = access(person(), make_label(topics=()), "JPN", DAY, agreements=aset)
    assert not d.allowed and d.reasons[0].code.value == "NO_NEED_TO_KNOW"


def test_unknown_level_and_originator_only(aset: AgreementSet) -> None:
    assert not access(person(), make_label(classification="ULTRA"), "JPN", DAY, agreements=aset).allowed
    only = make_label(caveats=("ORIGINATOR-ONLY",))
    assert not access(person(), only, "JPN", DAY, agreements=aset).allowed
    kor = Person(id="k", nationality="KOR", clearance="군사Ⅱ급비밀", need_to_know=frozenset({"DPRK-MISSILE"}))
    assert access(kor, only, "KOR", DAY, agreements=aset).allowed


def test_malformed_person_is_refused() -> None:
    with pytest.raises(InputError):
        person(nationality="JP")
    with pytest.raises(InputError):
        person(need_to_know=frozenset({"missile"}))
