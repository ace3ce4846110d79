from datetime import date

from accord.core.agreements import AgreementSet
from accord.core.matrix import OTHER_TOPIC, sharing_matrix


def test_matrix_2015_relay_for_missile_topics_only(aset: AgreementSet) -> None:
    m = sharing_matrix(aset, date(2015, 6, 1))
    assert m.parties == ("JPN", "KOR", "USA")
    assert m.topics == ("DPRK-MISSILE", "DPRK-MISSILE-WARNING", "DPRK-NUCLEAR", OTHER_TOPIC)
    cell = m.cell("KOR", "JPN", "DPRK-MISSILE")
    assert cell.allowed and cell.route == ("KOR", "USA", "JPN")
    assert cell.level == "군사Ⅱ급비밀" and cell.marking == "極秘"  # Grade I never crosses
    other = m.cell("KOR", "JPN", OTHER_TOPIC)
    assert not other.allowed and {r.code.value for r in other.decision.denials} == {"NOT_IN_FORCE", "OUT_OF_SCOPE"}
    us = m.cell("KOR", "USA", OTHER_TOPIC)
    # Grade I is shared with no country (ACC-R4), whatever the assumed US–ROK TOP SECRET row says
    assert us.allowed and us.level == "군사Ⅱ급비밀" and us.marking == "SECRET"


def test_matrix_2017_direct(aset: AgreementSet) -> None:
    m = sharing_matrix(aset, date(2017, 6, 1), topics=["NAVAL-OPS"])
    c = m.cell("JPN", "KOR", "NAVAL-OPS")
    assert c.allowed and c.route == ("JPN", "KOR") and c.level == "極秘"


def test_matrix_hypothetical_notice_never_suspended(aset: AgreementSet) -> None:
    what_if = aset.what_if(drop=[("jpn-kor-gsomia", date(2019, 11, 22))])
    real = sharing_matrix(aset, date(2020, 1, 1), topics=["NAVAL-OPS", "DPRK-MISSILE"])
    hypo = sharing_matrix(what_if, date(2020, 1, 1), topics=["NAVAL-OPS", "DPRK-MISSILE"])
    assert real.cell("KOR", "JPN", "NAVAL-OPS").allowed
    assert not hypo.cell("KOR", "JPN", "NAVAL-OPS").allowed
    assert hypo.cell("KOR", "JPN", "DPRK-MISSILE").route == ("KOR", "USA", "JPN")
    assert hypo.to_dict()["cells"]
