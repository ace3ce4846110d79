"""Each rule of the decision engine, shown allowing and refusing (rule ids from shared/domain)."""

from datetime import date

import pytest

from accord.core.agreements import AgreementSet, Event, EventType
from accord.core.consent import Consent
from accord.core.decision import Code, ReleaseDenied, decide, enforce
from tests.conftest import make_label

D2015 = date(2015, 3, 1)
D2017 = date(2017, 1, 5)


def codes(decision) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.code.value for r in decision.reasons}


def denial_codes(decision) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.code.value for r in decision.denials}


# -- rule 1: fail closed ---------------------------------------------------------------------


def test_empty_agreement_set_denies_everything() -> None:
    d = decide(make_label(), "KOR", "JPN", D2017, agreements=AgreementSet())
    assert not d.allowed and denial_codes(d) == {"NO_AGREEMENTS"}


@pytest.mark.parametrize(
    ("originator", "holder", "recipient"),
    [
        ("FRA", "FRA", "JPN"),
        ("KOR", "KOR", "CHN"),
        ("KOR", "GBR", "JPN"),
    ],
)
def test_unknown_party_is_denied(aset: AgreementSet, originator: str, holder: str, recipient: str) -> None:
    lab = make_label(originator=originator, classification="SECRET", rel=(recipient, "JPN"))
    d = decide(lab, holder, recipient, D2017, agreements=aset)
    assert not d.allowed and denial_codes(d) == {"UNKNOWN_PARTY"}


def test_unknown_level_is_denied_known_level_allowed(aset: AgreementSet) -> None:
    assert denial_codes(decide(make_label(classification="SECRET"), "KOR", "JPN", D2017, agreements=aset)) == {
        "UNKNOWN_LEVEL"
    }
    assert decide(make_label(classification="GRADE II"), "KOR", "JPN", D2017, agreements=aset).allowed


def test_release_to_oneself_is_not_a_release(aset: AgreementSet) -> None:
    assert denial_codes(decide(make_label(), "KOR", "KOR", D2017, agreements=aset)) == {"SAME_PARTY"}


# -- rule 2: releasability and caveats (JK-R3) -----------------------------------------------


def test_recipient_outside_releasability_is_denied(aset: AgreementSet) -> None:
    d = decide(make_label(rel=("USA",)), "KOR", "JPN", D2017, agreements=aset)
    assert not d.allowed and denial_codes(d) == {"NOT_RELEASABLE"}
    assert d.denials[0].rule == "JK-R3"
    assert decide(make_label(rel=("JPN",)), "KOR", "JPN", D2017, agreements=aset).allowed


def test_label_releasable_to_nobody_is_denied(aset: AgreementSet) -> None:
    assert denial_codes(decide(make_label(rel=()), "KOR", "JPN", D2017, agreements=aset)) == {"NOT_RELEASABLE"}


def test_originator_only_caveat_is_denied(aset: AgreementSet) -> None:
    d = decide(make_label(caveats=("ORIGINATOR-ONLY",)), "KOR", "JPN", D2017, agreements=aset)
    assert not d.allowed and denial_codes(d) == {"ORIGINATOR_ONLY"}


def test_return_to_the_originator_needs_no_releasability(aset: AgreementSet) -> None:
    d = decide(make_label(rel=("JPN",)), "JPN", "KOR", D2017, agreements=aset)
    assert d.allowed and d.route == ("JPN", "KOR") and d.marking == "군사Ⅱ급비밀"


# -- rule 3: coverage of every hop (JK-R2, T-R1, lifecycle) ----------------------------------


def test_top_secret_is_refused_under_the_jk_gsomia(aset: AgreementSet) -> None:
    """JK-R2: only SECRET and CONFIDENTIAL equivalents cross; Japan's 機密 has no row in Art. 4.1."""
    kimitsu = make_label(originator="JPN", classification="機密", rel=("KOR", "USA"))
    d = decide(kimitsu, "JPN", "KOR", D2017, agreements=aset)
    assert not d.allowed and "LEVEL_NOT_COVERED" in denial_codes(d)
    gsomia = [r for r in d.denials if r.agreement == "jpn-kor-gsomia"]
    assert gsomia and gsomia[0].article == "Art. 4.1" and gsomia[0].rule == "JK-R2"
    # ...while the US–Japan GSOMIA covers it
    assert decide(kimitsu, "JPN", "USA", D2017, agreements=aset).allowed


def test_rok_grade_one_fails_closed_on_the_sourced_fact_despite_an_assumed_row(aset: AgreementSet) -> None:
    """ACC-R4: Grade I is shared with no country [S JOONG16]; the US–ROK TOP SECRET row is assumed [I]."""
    grade1 = make_label(classification="군사Ⅰ급비밀")
    for recipient in ("USA", "JPN"):
        d = decide(grade1, "KOR", recipient, D2017, agreements=aset)
        assert not d.allowed and denial_codes(d) == {"NEVER_RELEASED"}
        assert d.denials[0].rule == "ACC-R4" and "JOONG16" in d.denials[0].message


def test_confidential_maps_to_the_equivalent_marking(aset: AgreementSet) -> None:
    d = decide(make_label(classification="군사Ⅲ급비밀"), "KOR", "JPN", D2017, agreements=aset)
    assert d.allowed and d.marking == "秘"
    d2 = decide(
        make_label(originator="JPN", classification="特定秘密", rel=("KOR",)), "JPN", "KOR", D2017, agreements=aset
    )
    assert d2.allowed and d2.marking == "군사Ⅱ급비밀" and d2.markings["JPN"] == "極秘"


def test_topic_outside_tisa_scope_is_refused(aset: AgreementSet) -> None:
    """T-R1: TISA carries North Korean nuclear and missile information only."""
    d = decide(make_label(topics=("LOGISTICS",)), "KOR", "JPN", D2015, agreements=aset)
    assert not d.allowed and "OUT_OF_SCOPE" in denial_codes(d)
    assert any(r.rule == "T-R1" for r in d.denials)
    assert decide(make_label(topics=("DPRK-NUCLEAR",)), "KOR", "JPN", D2015, agreements=aset).allowed


def test_item_without_topic_is_outside_any_topic_scope(aset: AgreementSet) -> None:
    d = decide(make_label(topics=()), "KOR", "JPN", D2015, agreements=aset)
    assert not d.allowed and "OUT_OF_SCOPE" in denial_codes(d)


def test_agreement_not_yet_in_force_is_refused(aset: AgreementSet) -> None:
    d = decide(make_label(), "KOR", "JPN", date(2014, 12, 28), agreements=aset)
    assert not d.allowed and denial_codes(d) == {"NOT_IN_FORCE"}
    assert decide(make_label(), "KOR", "JPN", date(2014, 12, 29), agreements=aset).allowed


def test_after_termination_nothing_new_is_released(aset: AgreementSet) -> None:
    """JK-R31: without the 2019 suspension the GSOMIA ends; non-missile items then have no channel."""
    what_if = aset.what_if(drop=[("jpn-kor-gsomia", date(2019, 11, 22))])
    lab = make_label(topics=("LOGISTICS",))
    assert decide(lab, "KOR", "JPN", date(2019, 11, 22), agreements=what_if).allowed
    d = decide(lab, "KOR", "JPN", date(2019, 11, 23), agreements=what_if)
    assert not d.allowed and "TERMINATED" in denial_codes(d)
    term = next(r for r in d.denials if r.code is Code.TERMINATED)
    assert term.rule == "JK-R31" and term.article == "Art. 21.4"
    assert "items already exchanged stay protected" in term.message


def test_after_termination_missile_data_falls_back_to_the_tisa_relay(aset: AgreementSet) -> None:
    """As in 2019, TISA is the fallback channel for missile information when the GSOMIA is gone."""
    what_if = aset.what_if(drop=[("jpn-kor-gsomia", date(2019, 11, 22))])
    d = decide(make_label(), "KOR", "JPN", date(2020, 1, 1), agreements=what_if)
    assert d.allowed and d.route == ("KOR", "USA", "JPN")


def test_suspended_agreement_is_refused(aset: AgreementSet) -> None:
    what_if = aset.what_if(add=[("jpn-kor-gsomia", Event(date(2024, 1, 1), EventType.SUSPENDED))])
    d = decide(make_label(topics=("LOGISTICS",)), "KOR", "JPN", date(2024, 6, 1), agreements=what_if)
    assert not d.allowed and "SUSPENDED" in denial_codes(d)


def test_no_channel_between_parties_without_agreement(aset: AgreementSet) -> None:
    gsomia = aset.get("jpn-kor-gsomia")
    assert gsomia is not None
    only = AgreementSet([gsomia])
    d = decide(make_label(), "KOR", "USA", D2017, agreements=only)
    assert not d.allowed and denial_codes(d) == {"NO_CHANNEL"}


# -- rule 4: the third-party rule (JK-R6, T-R5) -----------------------------------------------


def _consent(**kw: object) -> Consent:
    base: dict[str, object] = {
        "id": "KOR-C-1",
        "originator": "KOR",
        "holder": "JPN",
        "recipient": "USA",
        "granted": date(2017, 1, 1),
        "until": date(2017, 12, 31),
        "topics": frozenset({"DPRK-MISSILE"}),
    }
    base.update(kw)
    return Consent(**base)  # type: ignore[arg-type]


def test_onward_release_without_consent_is_refused(aset: AgreementSet) -> None:
    d = decide(make_label(), "JPN", "USA", D2017, agreements=aset)
    assert not d.allowed and denial_codes(d) == {"CONSENT_REQUIRED"}
    assert d.awaiting_consent and d.route == ("JPN", "USA")
    assert [(n.originator, n.holder, n.recipient) for n in d.consents_required] == [("KOR", "JPN", "USA")]
    assert any(r.rule == "JK-R6" or r.rule == "US-R2" for r in d.denials)


def test_onward_release_with_class_consent_is_allowed(aset: AgreementSet) -> None:
    d = decide(make_label(), "JPN", "USA", D2017, [_consent()], agreements=aset)
    assert d.allowed and d.consents_used == ("KOR-C-1",)
    assert d.markings == {"JPN": "極秘", "USA": "SECRET"}


@pytest.mark.parametrize(
    "consent",
    [
        _consent(until=date(2017, 1, 4)),  # expired
        _consent(granted=date(2017, 1, 6)),  # not yet valid
        _consent(recipient="KOR", holder="USA"),  # another hop
        _consent(originator="USA", holder="JPN"),  # not the originator's consent
        _consent(topics=frozenset({"DPRK-NUCLEAR"})),  # another topic
        _consent(item="item-2", topics=frozenset()),  # another item
    ],
)
def test_consent_that_does_not_cover_the_release_is_refused(aset: AgreementSet, consent: Consent) -> None:
    d = decide(make_label(), "JPN", "USA", D2017, [consent], agreements=aset)
    assert not d.allowed and denial_codes(d) == {"CONSENT_REQUIRED"}


def test_orcon_needs_a_consent_naming_the_item(aset: AgreementSet) -> None:
    lab = make_label(caveats=("ORCON",))
    d = decide(lab, "JPN", "USA", D2017, [_consent()], agreements=aset)
    assert not d.allowed and "ORCON" in d.denials[0].message
    assert d.consents_required[0].item_only
    ok = decide(lab, "JPN", "USA", D2017, [_consent(item="item-1", topics=frozenset())], agreements=aset)
    assert ok.allowed


def test_hub_relay_is_approved_by_the_originators_request(aset: AgreementSet) -> None:
    """T-R4/T-R5: KOR reaches JPN through the US hub in 2015; its request is its approval."""
    d = decide(make_label(), "KOR", "JPN", D2015, agreements=aset)
    assert d.allowed
    assert d.route == ("KOR", "USA", "JPN")
    assert d.markings == {"KOR": "군사Ⅱ급비밀", "USA": "SECRET", "JPN": "極秘"}
    assert d.consents_used == ("originator-request",)
    assert "RELAY_APPROVED" in codes(d)
    assert set(d.agreements) == {"kor-jpn-usa-tisa", "kor-usa-security-agreement", "jpn-usa-gsomia"}


def test_hub_holding_an_item_needs_the_originators_consent(aset: AgreementSet) -> None:
    """T-R5: DoD passes an item on only after the originating participant approves."""
    d = decide(make_label(), "USA", "JPN", D2015, agreements=aset)
    assert not d.allowed and d.awaiting_consent
    standing = Consent(
        id="TISA-STANDING-KOR",
        originator="KOR",
        holder="USA",
        recipient="JPN",
        granted=date(2014, 12, 29),
        until=date(2030, 12, 31),
        topics=frozenset({"DPRK-MISSILE", "DPRK-NUCLEAR"}),
        standing=True,
    )
    ok = decide(make_label(), "USA", "JPN", D2015, [standing], agreements=aset)
    assert ok.allowed and ok.consents_used == ("TISA-STANDING-KOR",)


def test_non_originator_relay_through_hub_needs_consent_for_every_hop(aset: AgreementSet) -> None:
    """JPN holds a KOR item before the GSOMIA; passing it back through the US needs KOR's consent."""
    lab = make_label(rel=("JPN", "USA"))
    d = decide(lab, "JPN", "USA", D2015, agreements=aset)
    assert not d.allowed and denial_codes(d) == {"CONSENT_REQUIRED"}


# -- rule 5: route search and protection basis (T-R3, T-R4) ----------------------------------


def test_direct_channel_is_preferred_over_the_hub(aset: AgreementSet) -> None:
    d = decide(make_label(), "KOR", "JPN", D2017, agreements=aset)
    assert d.allowed and d.route == ("KOR", "JPN") and d.agreements == ("jpn-kor-gsomia",)


def test_relay_without_protecting_bilateral_is_refused(aset: AgreementSet) -> None:
    """T-R3: each hop through the hub must also be protected by the underlying bilateral."""
    what_if = aset.what_if(add=[("jpn-usa-gsomia", Event(date(2015, 1, 1), EventType.TERMINATED))])
    d = decide(make_label(), "KOR", "JPN", D2015, agreements=what_if)
    assert not d.allowed and "NO_PROTECTION_BASIS" in denial_codes(d)
    assert any(r.rule == "T-R3" for r in d.denials)


def test_protection_survives_termination_for_held_items(aset: AgreementSet) -> None:
    """JK-R31: JPN still holds KOR's item after termination; onward release still needs consent."""
    what_if = aset.what_if(drop=[("jpn-kor-gsomia", date(2019, 11, 22))])
    day = date(2020, 2, 1)
    refused = decide(make_label(), "JPN", "USA", day, agreements=what_if)
    assert not refused.allowed and "CONSENT_REQUIRED" in denial_codes(refused)
    assert "SURVIVAL" in codes(refused)
    consent = _consent(granted=date(2020, 1, 1), until=date(2020, 12, 31))
    ok = decide(make_label(), "JPN", "USA", day, [consent], agreements=what_if)
    assert ok.allowed and ok.marking == "SECRET"


def test_holder_without_equivalent_is_refused(aset: AgreementSet) -> None:
    """No agreement maps ROK Grade I or 대외비 into Japan's scheme: JPN cannot hold them, nor pass them on."""
    grade1 = make_label(classification="군사Ⅰ급비밀", rel=("JPN", "USA"))
    assert denial_codes(decide(grade1, "JPN", "USA", D2017, agreements=aset)) == {"NEVER_RELEASED"}
    restricted = make_label(classification="대외비", rel=("JPN", "USA"))
    d = decide(restricted, "JPN", "USA", D2017, agreements=aset)
    assert not d.allowed and denial_codes(d) == {"NOT_HELD"}


# -- the decision object ---------------------------------------------------------------------


def test_every_reason_cites_agreement_and_article_where_it_rests_on_one(aset: AgreementSet) -> None:
    d = decide(make_label(), "KOR", "JPN", D2015, agreements=aset)
    for r in d.reasons:
        if r.agreement is not None:
            assert r.article, r
        assert r.message.endswith("."), r


def test_json_form_has_the_contract_fields(aset: AgreementSet) -> None:
    out = decide(make_label(), "KOR", "JPN", D2017, agreements=aset).to_dict()
    for key in ("allowed", "route", "marking", "agreements", "reasons"):
        assert key in out
    assert out["marking"] == "極秘"
    assert set(out["reasons"][0]) >= {"code", "agreement", "article", "message"}


def test_enforce_raises_with_the_decision(aset: AgreementSet) -> None:
    with pytest.raises(ReleaseDenied) as exc:
        enforce(make_label(rel=("USA",)), "KOR", "JPN", D2017, agreements=aset)
    assert not exc.value.decision.allowed
    assert enforce(make_label(), "KOR", "JPN", D2017, agreements=aset).allowed


def test_relay_fails_closed_when_its_protection_basis_is_not_loaded(aset: AgreementSet) -> None:
    tisa = aset.get("kor-jpn-usa-tisa")
    assert tisa is not None
    d = decide(make_label(), "KOR", "JPN", D2015, agreements=AgreementSet([tisa]))
    assert not d.allowed and "NO_PROTECTION_BASIS" in denial_codes(d)
