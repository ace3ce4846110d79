"""The article's timeline as scenarios: 2012, 2014, 2016, 2019, 2023."""

from datetime import date

from accord.core.agreements import AgreementSet
from accord.core.decision import decide
from tests.conftest import make_label

MISSILE = make_label(topics=("DPRK-MISSILE",))
NUCLEAR_JP = make_label(originator="JPN", classification="極秘", topics=("DPRK-NUCLEAR",), rel=("KOR", "USA"))


def test_2012_aborted_signing_leaves_korea_and_japan_without_a_channel(aset: AgreementSet) -> None:
    d = decide(MISSILE, "KOR", "JPN", date(2012, 6, 29), agreements=aset)
    assert not d.allowed
    assert {r.code.value for r in d.denials} == {"NOT_IN_FORCE"}
    assert any("signing was aborted on 2012-06-29" in r.message for r in d.denials)


def test_2014_trilateral_arrangement_opens_the_relay_on_29_december(aset: AgreementSet) -> None:
    assert not decide(MISSILE, "KOR", "JPN", date(2014, 12, 28), agreements=aset).allowed
    d = decide(MISSILE, "KOR", "JPN", date(2014, 12, 29), agreements=aset)
    assert d.allowed and d.route == ("KOR", "USA", "JPN")
    back = decide(NUCLEAR_JP, "JPN", "KOR", date(2015, 6, 1), agreements=aset)
    assert back.allowed and back.route == ("JPN", "USA", "KOR") and back.marking == "군사Ⅱ급비밀"


def test_2016_gsomia_opens_the_direct_channel_on_23_november(aset: AgreementSet) -> None:
    before = decide(MISSILE, "KOR", "JPN", date(2016, 11, 22), agreements=aset)
    assert before.allowed and before.route == ("KOR", "USA", "JPN")
    after = decide(MISSILE, "KOR", "JPN", date(2016, 11, 23), agreements=aset)
    assert after.allowed and after.route == ("KOR", "JPN") and after.agreements == ("jpn-kor-gsomia",)
    # and beyond missile topics, which TISA never covered
    other = make_label(topics=("NAVAL-OPS",))
    assert not decide(other, "KOR", "JPN", date(2016, 11, 22), agreements=aset).allowed
    assert decide(other, "KOR", "JPN", date(2016, 11, 23), agreements=aset).allowed


def test_2019_notice_keeps_the_agreement_until_expiry_and_the_suspension_keeps_it_after(aset: AgreementSet) -> None:
    during = decide(MISSILE, "KOR", "JPN", date(2019, 10, 1), agreements=aset)
    assert during.allowed and "2019-11-23" in during.reasons[2].message
    after = decide(MISSILE, "KOR", "JPN", date(2019, 11, 25), agreements=aset)
    assert after.allowed and after.route == ("KOR", "JPN")
    assert "suspended on 2019-11-22" in after.reasons[2].message


def test_2023_withdrawal_restores_automatic_renewal(aset: AgreementSet) -> None:
    d = decide(MISSILE, "KOR", "JPN", date(2023, 3, 21), agreements=aset)
    assert d.allowed and "renewing automatically" in d.reasons[2].message


def test_top_secret_never_crosses_between_korea_and_japan(aset: AgreementSet) -> None:
    grade1 = make_label(classification="군사Ⅰ급비밀")
    for day in (date(2015, 1, 1), date(2017, 1, 1), date(2020, 1, 1), date(2026, 1, 1)):
        assert not decide(grade1, "KOR", "JPN", day, agreements=aset).allowed


def test_custody_replay_2016_to_2023_of_a_korean_item_held_by_japan(aset: AgreementSet) -> None:
    """One KOR item through the GSOMIA's life: received 2017, held through the 2019 crisis, returnable always;
    onward release to the US never without Korea's consent (JK-R6); what-if the notice had run (JK-R31)."""
    from dataclasses import replace as dc_replace
    from datetime import UTC, datetime

    from accord.core.custody import Custody, lawful_custody

    item = dc_replace(make_label(topics=("NAVAL-OPS",), rel=("JPN", "USA")), created=datetime(2017, 3, 1, tzinfo=UTC))
    sent = decide(item, "KOR", "JPN", date(2017, 3, 1), agreements=aset)
    assert sent.allowed and sent.hops[0].mode == "direct"
    record = Custody(
        item.id, "KOR", "JPN", "jpn-kor-gsomia", "KOR", date(2017, 3, 1), item.classification, sent.marking
    )
    what_if = aset.what_if(drop=[("jpn-kor-gsomia", date(2019, 11, 22))])
    for day in (date(2018, 1, 1), date(2019, 9, 1), date(2019, 12, 1), date(2023, 6, 1)):
        for agreements in (aset, what_if):
            assert lawful_custody(item, "JPN", day, agreements=agreements, record=record).ok
            back = decide(item, "JPN", "KOR", day, agreements=agreements, custody=record)
            assert back.allowed and back.marking == "군사Ⅱ급비밀"
            onward = decide(item, "JPN", "USA", day, agreements=agreements, custody=record)
            assert not onward.allowed and onward.denials[0].rule == "JK-R6"
    # had the notice run, nothing new crosses after 2019-11-23, yet the item goes home (JK-R31, JK-R13)
    assert not decide(item, "KOR", "JPN", date(2019, 12, 1), agreements=what_if).allowed
    home = decide(item, "JPN", "KOR", date(2019, 12, 1), agreements=what_if, custody=record)
    assert {"RETURN", "SURVIVAL"} <= {r.code.value for r in home.reasons}
