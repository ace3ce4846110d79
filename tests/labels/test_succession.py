"""STANAG 4774 SuccessionHandling applied at the decision date (ADatP-4774 §4.3), never ignored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.agreements import AgreementSet
from accord.core.decision import Code, decide
from accord.core.labels import Label, Succession
from accord.errors import LabelError
from accord.formats.label_json import label_from_dict, label_to_dict
from accord.formats.stanag4774 import label_from_xml, label_to_xml

T0 = datetime(2017, 1, 5, 9, tzinfo=UTC)


def kor(classification: str = "군사Ⅱ급비밀", rel: tuple[str, ...] = ("JPN", "USA"), **kw: object) -> Label:
    return Label(
        originator="KOR",
        classification=classification,
        topics=frozenset({"DPRK-MISSILE"}),
        releasable_to=frozenset(rel),
        created=T0,
        id="2017-0042",
        **kw,
    )  # type: ignore[arg-type]


def at(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


def then(when: datetime, successor: Label, end: datetime | None = None) -> Succession:
    return Succession(when, end or when, successor)


STRICTER = kor(successor=then(at(2017, 3, 1), kor("군사Ⅰ급비밀")))


def test_stricter_successor_is_not_released_as_the_old_level(aset: AgreementSet) -> None:
    """The issue's fail-open: from 2017-03-01 the item is 군사Ⅰ급비밀, which the Japan-ROK GSOMIA does not cover."""
    d = decide(STRICTER, "KOR", "JPN", date(2017, 6, 1), agreements=aset)
    assert not d.allowed
    assert d.label.classification == "군사Ⅰ급비밀"
    # issue 10: ROK Grade I goes to no country (ACC-R4), before any agreement's table is consulted
    assert {r.code for r in d.denials} == {Code.NEVER_RELEASED}
    assert "군사Ⅱ급비밀" not in (d.marking or "")


def test_stricter_successor_from_xml_end_to_end(aset: AgreementSet) -> None:
    lab = label_from_xml(label_to_xml(STRICTER))
    assert not decide(lab, "KOR", "JPN", date(2017, 6, 1), agreements=aset).allowed
    assert decide(lab, "KOR", "JPN", date(2017, 2, 28), agreements=aset).marking == "極秘"


def test_before_and_after_the_succession_date(aset: AgreementSet) -> None:
    assert decide(STRICTER, "KOR", "JPN", date(2017, 2, 28), agreements=aset).allowed
    assert not decide(STRICTER, "KOR", "JPN", date(2017, 3, 1), agreements=aset).allowed  # midnight: from that day


def test_looser_successor_governs_from_its_date(aset: AgreementSet) -> None:
    lab = kor(successor=then(at(2018, 1, 1), kor("군사Ⅲ급비밀")))
    assert decide(lab, "KOR", "JPN", date(2017, 12, 31), agreements=aset).marking == "極秘"
    assert decide(lab, "KOR", "JPN", date(2018, 1, 2), agreements=aset).marking == "秘"


def test_successor_narrowing_releasability_denies_after_the_date(aset: AgreementSet) -> None:
    lab = kor(successor=then(at(2017, 3, 1), kor(rel=("USA",))))
    assert decide(lab, "KOR", "JPN", date(2017, 2, 1), agreements=aset).allowed
    d = decide(lab, "KOR", "JPN", date(2017, 3, 2), agreements=aset)
    assert [r.code for r in d.denials] == [Code.NOT_RELEASABLE]


def test_chain_of_successors_applies_in_order(aset: AgreementSet) -> None:
    lab = kor(successor=then(at(2017, 3, 1), kor("군사Ⅰ급비밀", successor=then(at(2018, 1, 1), kor("군사Ⅲ급비밀")))))
    assert decide(lab, "KOR", "JPN", date(2017, 2, 1), agreements=aset).marking == "極秘"
    assert not decide(lab, "KOR", "JPN", date(2017, 6, 1), agreements=aset).allowed
    assert decide(lab, "KOR", "JPN", date(2018, 6, 1), agreements=aset).marking == "秘"
    assert lab.effective_at(date(2018, 6, 1)).successor is None


def test_succession_within_a_day_takes_the_stricter_of_both_that_day(aset: AgreementSet) -> None:
    looser = kor(successor=then(at(2018, 1, 1, 12), kor("군사Ⅲ급비밀", rel=("JPN", "USA"))))
    assert looser.effective_at(date(2018, 1, 1)).classification == "군사Ⅱ급비밀"  # not loosened early
    assert looser.effective_at(date(2018, 1, 2)).classification == "군사Ⅲ급비밀"
    stricter = kor(successor=then(at(2017, 3, 1, 12), kor("군사Ⅰ급비밀", rel=("USA",))))
    day = stricter.effective_at(date(2017, 3, 1))
    assert day.classification == "군사Ⅰ급비밀" and day.releasable_to == {"USA"}  # not released late either
    assert not decide(stricter, "KOR", "JPN", date(2017, 3, 1), agreements=aset).allowed


def test_zoneless_succession_time_covers_every_zone() -> None:
    xml = label_to_xml(STRICTER).replace(
        b"<slab:SuccessionDateTime>2017-03-01T00:00:00Z", b"<slab:SuccessionDateTime>2017-03-01T00:00:00"
    )
    lab = label_from_xml(xml)
    assert lab.successor is not None and lab.successor.start == at(2017, 2, 28, 10)
    assert lab.effective_at(date(2017, 2, 28)).classification == "군사Ⅰ급비밀"  # may already be 03-01 somewhere
    assert lab.effective_at(date(2017, 2, 27)).classification == "군사Ⅱ급비밀"
    assert label_from_xml(label_to_xml(lab)) == lab  # written back zoneless


def test_successors_out_of_order_are_refused() -> None:
    with pytest.raises(LabelError, match="out of order"):
        kor(successor=then(at(2018, 1, 1), kor("군사Ⅰ급비밀", successor=then(at(2017, 1, 1), kor("군사Ⅲ급비밀")))))


def test_successor_under_another_policy_is_refused() -> None:
    other = Label(
        originator="JPN",
        classification="極秘",
        topics=frozenset(),
        releasable_to=frozenset(),
        created=T0,
        id="2017-0042",
    )
    with pytest.raises(LabelError, match="cannot change its policy"):
        kor(successor=then(at(2017, 3, 1), other))
    xml = label_to_xml(STRICTER).replace(
        b"<slab:PolicyIdentifier>KOR</slab:PolicyIdentifier>\n        <slab:Classif"
        b"ication>\xea\xb5\xb0\xec\x82\xac\xe2\x85\xa0",
        b"<slab:PolicyIdentifier>JPN</slab:PolicyIdentifier>\n        <slab:Classif"
        b"ication>\xea\xb5\xb0\xec\x82\xac\xe2\x85\xa0",
    )
    assert b"<slab:PolicyIdentifier>JPN" in xml
    with pytest.raises(LabelError, match="cannot change its policy"):
        label_from_xml(xml)


def test_too_long_a_chain_is_refused() -> None:
    def chain(n: int) -> Label:
        lab = kor("군사Ⅲ급비밀")
        for year in range(2020 + n, 2020, -1):
            lab = kor(successor=then(at(year, 1, 1), lab))
        return lab

    assert chain(8).effective_at(date(2040, 1, 1)).classification == "군사Ⅲ급비밀"
    with pytest.raises(LabelError, match="successive labels"):
        chain(9)


def test_unknown_successor_level_is_denied_not_skipped(aset: AgreementSet) -> None:
    lab = kor(successor=then(at(2017, 3, 1), kor("COSMIC")))
    d = decide(lab, "KOR", "JPN", date(2017, 6, 1), agreements=aset)
    assert [r.code for r in d.denials] == [Code.UNKNOWN_LEVEL]


def test_succession_survives_the_json_form_the_node_stores(aset: AgreementSet) -> None:
    lab = kor(successor=then(at(2017, 3, 1), kor("군사Ⅰ급비밀")))
    back = label_from_dict(label_to_dict(lab))
    assert back == lab
    assert not decide(back, "KOR", "JPN", date(2017, 6, 1), agreements=aset).allowed
    assert "succession" not in label_to_dict(kor())  # plain labels keep their JSON form


def test_access_follows_succession_too(aset: AgreementSet) -> None:
    from accord.core.access import access
    from accord.core.persons import Person

    analyst = Person(id="jpn-analyst", nationality="JPN", clearance="極秘", need_to_know=frozenset({"DPRK-MISSILE"}))
    assert access(analyst, STRICTER, "JPN", date(2017, 2, 1), agreements=aset).allowed
    assert not access(analyst, STRICTER, "JPN", date(2017, 6, 1), agreements=aset).allowed


def test_stricter_successor_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from accord.cli import get_app

    f = tmp_path / "l.xml"
    f.write_bytes(label_to_xml(STRICTER))
    r = CliRunner().invoke(
        get_app(), ["decide", "--label", str(f), "--from", "KOR", "--to", "JPN", "--at", "2017-06-01"]
    )
    assert r.exit_code == 1, r.output
    assert "NEVER_RELEASED" in r.output  # issue 10: Grade I goes to no country (ACC-R4)


def test_review_date_before_succession_makes_both_govern_until_the_successor_does(aset: AgreementSet) -> None:
    """One reading of §4.3 applies the successor once the review date has passed: honoured fail-closed."""
    lab = kor(review=at(2017, 2, 1), successor=then(at(2017, 3, 1), kor("군사Ⅰ급비밀")))
    assert decide(lab, "KOR", "JPN", date(2017, 1, 31), agreements=aset).allowed
    assert not decide(lab, "KOR", "JPN", date(2017, 2, 15), agreements=aset).allowed  # stricter of both
    looser = kor(review=at(2017, 2, 1), successor=then(at(2017, 3, 1), kor("군사Ⅲ급비밀")))
    assert looser.effective_at(date(2017, 2, 15)).classification == "군사Ⅱ급비밀"  # not loosened early
    assert looser.effective_at(date(2017, 3, 1)).classification == "군사Ⅲ급비밀"


LEVELS = ["군사Ⅲ급비밀", "군사Ⅱ급비밀", "군사Ⅰ급비밀"]


@st.composite
def chains(draw: st.DrawFn) -> tuple[Label, list[tuple[datetime, datetime, Label]]]:
    """A label with 0-4 successors at increasing times (some within a day, some zoneless windows)."""
    n = draw(st.integers(0, 4))
    times = sorted(draw(st.lists(st.integers(0, 400 * 24), min_size=n, max_size=n, unique=True)))
    plain = [
        kor(draw(st.sampled_from(LEVELS)), rel=tuple(draw(st.sets(st.sampled_from(["JPN", "USA"])))))
        for _ in range(n + 1)
    ]
    windows = [(at(2017, 1, 1) + timedelta(hours=h), draw(st.sampled_from([0, 0, 28]))) for h in times]
    lab = plain[-1]
    spans = []
    for i in range(n - 1, -1, -1):
        start, width = windows[i]
        end = start + timedelta(hours=width)
        if i + 1 < n and end > windows[i + 1][0]:
            end = start
        lab = Label(
            originator="KOR",
            classification=plain[i].classification,
            topics=plain[i].topics,
            releasable_to=plain[i].releasable_to,
            created=T0,
            id="2017-0042",
            successor=Succession(start, end, lab),
        )
        spans.insert(0, (start, end, plain[i + 1]))
    return (lab if n else plain[0]), [(at(1, 1, 1), at(1, 1, 1), plain[0]), *spans]


@settings(max_examples=300, deadline=None)
@given(chain=chains(), day=st.integers(-5, 420))
def test_the_label_in_force_is_never_looser_than_any_label_that_may_govern_that_day(chain, day) -> None:  # type: ignore[no-untyped-def]
    lab, spans = chain
    d = date(2017, 1, 1) + timedelta(days=day)
    lo = datetime.combine(d, datetime.min.time(), UTC)
    hi = lo + timedelta(days=1)
    # label k may govern on d if its own span [start_k, next span's end) meets the day
    governing = []
    for k, (start, _end, label) in enumerate(spans):
        nxt_end = spans[k + 1][1] if k + 1 < len(spans) else datetime.max.replace(tzinfo=UTC)
        if start < hi and nxt_end > lo:
            governing.append(label)
    eff = lab.effective_at(d)
    assert eff.successor is None and governing
    for g in governing:
        assert eff.level is not None and g.level is not None and eff.level.rank >= g.level.rank
        assert eff.releasable_to <= g.releasable_to
