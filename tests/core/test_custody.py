"""Custody-rooted decisions: each attack of issue 10, written as a test named after it, and the rule that stops it."""

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from accord.core.access import access
from accord.core.agreements import AgreementSet, Event, EventType
from accord.core.consent import Consent
from accord.core.custody import (
    Custody,
    CustodyError,
    CustodyState,
    DerivedKind,
    Incident,
    IncidentState,
    derive,
    freeze,
    lawful_custody,
    notice_targets,
    reclassify,
    reclassify_all,
)
from accord.core.decision import decide
from accord.core.persons import Person
from tests.conftest import make_label

D2015 = date(2015, 6, 1)
D2017 = date(2017, 6, 1)


def denials(d) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.code.value for r in d.denials}


# -- a holder cannot get around the originator through the hub (ACC-R8) ----------------------------------


def test_holder_cannot_route_around_the_originator_through_the_hub(aset: AgreementSet) -> None:
    """A USA ORCON item held by Japan: JPN→USA→KOR is a return then the originator's own decision."""
    lab = make_label(originator="USA", classification="SECRET", rel=("KOR", "JPN"), caveats=("ORCON",))
    d = decide(lab, "JPN", "KOR", D2017, agreements=aset)
    assert not d.allowed and d.awaiting_consent
    assert {n.originator for n in d.consents_required} == {"USA"}
    assert "ORIGINATOR_DECIDES" in denials(d) and "CONSENT_REQUIRED" in denials(d)
    decides = next(r for r in d.denials if r.code.value == "ORIGINATOR_DECIDES")
    assert decides.rule == "ACC-R8" and "never forwarded automatically" in decides.message
    # in 2015 there is no direct JPN–KOR channel: only the originator's own decision remains
    early = decide(lab, "JPN", "KOR", D2015, agreements=aset)
    assert not early.allowed and early.awaiting_consent and "ORIGINATOR_DECIDES" in denials(early)
    assert early.route == ("JPN", "USA", "KOR") and early.consents_required[0].originator == "USA"
    # with the originator's consent naming the item, the direct channel opens (2017)
    consent = Consent(
        id="USA-C-1", originator="USA", holder="JPN", recipient="KOR", granted=D2017, until=D2017, item="item-1"
    )
    ok = decide(lab, "JPN", "KOR", D2017, [consent], agreements=aset)
    assert ok.allowed and ok.route == ("JPN", "KOR") and ok.consents_used == ("USA-C-1",)


# -- the hub never reads an item it was never released to (relay-blind) ----------------------------------


def test_hub_outside_the_releasability_relays_blind_and_gets_no_marking(aset: AgreementSet) -> None:
    lab = make_label(rel=("JPN",))
    d = decide(lab, "KOR", "JPN", D2015, agreements=aset)
    assert d.allowed and d.route == ("KOR", "USA", "JPN")
    assert "USA" not in d.markings and d.markings == {"KOR": "군사Ⅱ급비밀", "JPN": "極秘"}
    assert [h.mode for h in d.hops] == ["relay-blind", "relay-blind"]
    assert d.hops[0].marking is None and d.hops[1].marking == "極秘"
    assert any(r.code.value == "BLIND_RELAY" for r in d.reasons)
    assert d.to_dict()["hops"][0] == {
        "from": "KOR",
        "to": "USA",
        "agreement": "kor-jpn-usa-tisa",
        "marking": None,
        "mode": "relay-blind",
    }


def test_hub_within_the_releasability_reads_marks_and_rewraps(aset: AgreementSet) -> None:
    d = decide(make_label(rel=("JPN", "USA")), "KOR", "JPN", D2015, agreements=aset)
    assert d.allowed and [h.mode for h in d.hops] == ["relay-rewrap", "relay-rewrap"]
    assert d.markings["USA"] == "SECRET" and d.hops[0].marking == "SECRET"


def test_direct_release_lists_one_direct_hop(aset: AgreementSet) -> None:
    d = decide(make_label(), "KOR", "JPN", D2017, agreements=aset)
    assert d.hops and [tuple(h) for h in d.hops] == [("KOR", "JPN", "jpn-kor-gsomia", "極秘", "direct")]


# -- the third-party rule hangs off the agreement the holder holds the item under (JK-R6) ----------------


def test_third_party_rule_cites_the_agreement_the_holder_holds_the_item_under(aset: AgreementSet) -> None:
    d = decide(make_label(), "JPN", "USA", D2017, agreements=aset)
    assert not d.allowed and denials(d) == {"CONSENT_REQUIRED"}
    need = d.denials[0]
    assert need.agreement == "jpn-kor-gsomia" and need.rule == "JK-R6" and need.article == "Art. 6"
    assert any(r.code.value == "CUSTODY" and r.agreement == "jpn-kor-gsomia" for r in d.reasons)


def test_outgoing_agreement_without_third_party_rule_does_not_free_the_holder(aset: AgreementSet) -> None:
    """Set the US–Japan GSOMIA's onward_release_requires_consent to false: Korea's consent is still needed."""
    us_jp = aset.get("jpn-usa-gsomia")
    assert us_jp is not None
    lax = aset.replace(replace(us_jp, onward_release_requires_consent=False))
    d = decide(make_label(), "JPN", "USA", D2017, agreements=lax)
    assert not d.allowed and d.denials[0].rule == "JK-R6"


def test_outgoing_agreement_is_satisfied_too(aset: AgreementSet) -> None:
    """A holder whose custody agreement is lax still meets the outgoing hop's third-party rule (US-R2)."""
    gsomia = aset.get("jpn-kor-gsomia")
    assert gsomia is not None
    lax = aset.replace(replace(gsomia, onward_release_requires_consent=False))
    d = decide(make_label(), "JPN", "USA", D2017, agreements=lax)
    assert not d.allowed and d.denials[0].agreement == "jpn-usa-gsomia" and d.denials[0].rule == "US-R2"


# -- return to the originator survives termination (JK-R13, JK-R31) --------------------------------------


def test_return_to_the_originator_survives_termination(aset: AgreementSet) -> None:
    what_if = aset.what_if(drop=[("jpn-kor-gsomia", date(2019, 11, 22))])
    lab = make_label(topics=("LOGISTICS",), rel=("JPN",))
    d = decide(lab, "JPN", "KOR", date(2020, 2, 1), agreements=what_if)
    assert d.allowed and d.route == ("JPN", "KOR") and d.marking == "군사Ⅱ급비밀"
    codes = {r.code.value: r for r in d.reasons}
    assert codes["RETURN"].rule == "JK-R13" and codes["SURVIVAL"].rule == "JK-R31"
    # while onward release after termination still needs consent
    assert not decide(lab, "JPN", "USA", date(2020, 2, 1), agreements=what_if).allowed


def test_returned_or_destroyed_item_can_neither_be_released_nor_returned(aset: AgreementSet) -> None:
    rec = Custody("item-1", "KOR", "JPN", "jpn-kor-gsomia", "KOR", date(2017, 1, 5), "군사Ⅱ급비밀", "極秘")
    for state in (CustodyState.RETURNED, CustodyState.DESTROYED):
        gone = rec.to(state)
        for to in ("KOR", "USA"):
            d = decide(make_label(), "JPN", to, D2017, agreements=aset, custody=gone)
            assert not d.allowed and denials(d) == {"CUSTODY_ENDED"} and d.denials[0].rule == "JK-R13"


def test_frozen_or_compromised_item_only_goes_back_to_its_originator(aset: AgreementSet) -> None:
    rec = Custody("item-1", "KOR", "JPN", "jpn-kor-gsomia", "KOR", date(2017, 1, 5), "군사Ⅱ급비밀", "極秘")
    consent = Consent(
        id="K-1", originator="KOR", holder="JPN", recipient="USA", granted=D2017, until=D2017, item="item-1"
    )
    assert decide(make_label(), "JPN", "USA", D2017, [consent], agreements=aset, custody=rec).allowed
    for state in (CustodyState.FROZEN, CustodyState.COMPROMISED):
        held = rec.to(state)
        d = decide(make_label(), "JPN", "USA", D2017, [consent], agreements=aset, custody=held)
        assert not d.allowed and denials(d) == {"FROZEN"} and d.denials[0].rule == "JK-R26"
        assert decide(make_label(), "JPN", "KOR", D2017, agreements=aset, custody=held).allowed


# -- unlawful custody: no access, no release (ACC-R7) ----------------------------------------------------


def test_holder_outside_the_releasability_holds_nothing_lawfully(aset: AgreementSet) -> None:
    lab = make_label(rel=("USA",))
    d = decide(lab, "JPN", "KOR", D2017, agreements=aset)
    assert not d.allowed and denials(d) == {"NOT_HELD"} and d.denials[0].rule == "ACC-R7"


def test_item_before_any_agreement_could_carry_it_is_not_held(aset: AgreementSet) -> None:
    lab = replace(make_label(topics=("LOGISTICS",)), created=datetime(2012, 6, 1, tzinfo=UTC))
    d = decide(lab, "JPN", "KOR", date(2012, 6, 29), agreements=aset)
    assert not d.allowed and denials(d) == {"NOT_HELD"}


def test_custody_record_naming_an_agreement_not_yet_in_force_is_refused(aset: AgreementSet) -> None:
    rec = Custody("item-1", "KOR", "JPN", "jpn-kor-gsomia", "KOR", date(2015, 6, 1), "군사Ⅱ급비밀", "極秘")
    d = decide(make_label(), "JPN", "KOR", D2017, agreements=aset, custody=rec)
    assert not d.allowed and denials(d) == {"NOT_HELD"}
    tisa = replace(rec, agreement="kor-jpn-usa-tisa")
    ok = decide(make_label(), "JPN", "KOR", D2017, agreements=aset, custody=tisa)
    assert ok.allowed


def test_custody_record_of_another_item_or_holder_is_refused(aset: AgreementSet) -> None:
    rec = Custody("item-9", "KOR", "JPN", "jpn-kor-gsomia", "KOR", date(2017, 1, 5))
    assert denials(decide(make_label(), "JPN", "KOR", D2017, agreements=aset, custody=rec)) == {"NOT_HELD"}
    wrong_mark = Custody("item-1", "KOR", "JPN", "jpn-kor-gsomia", "KOR", date(2017, 1, 5), alternative="秘")
    assert denials(decide(make_label(), "JPN", "KOR", D2017, agreements=aset, custody=wrong_mark)) == {"NOT_HELD"}


def test_custody_under_tisa_cites_the_relay_rule(aset: AgreementSet) -> None:
    """Japan received Korea's item through the US in 2015: it holds it under TISA (T-R5)."""
    d = decide(make_label(), "JPN", "USA", D2015, agreements=aset)
    assert not d.allowed and d.denials[0].agreement == "kor-jpn-usa-tisa" and d.denials[0].rule == "T-R5"


# -- access (JK-R15 + custody) ---------------------------------------------------------------------------


ANALYST = Person(id="jsdf-1", nationality="JPN", clearance="極秘", need_to_know=frozenset({"DPRK-MISSILE"}))


def test_access_refused_to_an_item_japan_cannot_hold(aset: AgreementSet) -> None:
    d = access(ANALYST, make_label(rel=("USA",)), "JPN", D2017, agreements=aset)
    assert not d.allowed and d.reasons[0].code.value == "NOT_HELD" and d.reasons[0].rule == "ACC-R7"


def test_access_refused_before_any_agreement_could_carry_the_item(aset: AgreementSet) -> None:
    lab = replace(make_label(), created=datetime(2012, 6, 1, tzinfo=UTC))
    d = access(ANALYST, lab, "JPN", date(2012, 6, 29), agreements=aset)
    assert not d.allowed and d.reasons[0].code.value == "NOT_HELD"
    assert access(ANALYST, lab, "JPN", D2017, agreements=aset).allowed


# -- reasons cite the right rule -------------------------------------------------------------------------


def test_daeoebi_cites_the_definition_not_the_top_secret_rule(aset: AgreementSet) -> None:
    d = decide(make_label(classification="대외비", topics=("LOGISTICS",)), "KOR", "JPN", D2017, agreements=aset)
    assert not d.allowed
    gsomia = next(r for r in d.denials if r.agreement == "jpn-kor-gsomia")
    assert gsomia.rule == "JK-R1" and gsomia.rule != "JK-R2"


def test_2015_tisa_release_does_not_cite_the_gsomia_not_yet_in_force(aset: AgreementSet) -> None:
    d = decide(make_label(), "KOR", "JPN", D2015, agreements=aset)
    assert d.allowed
    assert all(r.rule != "JK-R3" and r.agreement != "jpn-kor-gsomia" for r in d.reasons)
    assert d.reasons[0].rule == "T-R7"


def test_not_yet_in_force_does_not_cite_the_termination_clause(aset: AgreementSet) -> None:
    d = decide(make_label(), "KOR", "JPN", date(2014, 12, 28), agreements=aset)
    tisa = next(r for r in d.denials if r.agreement == "kor-jpn-usa-tisa")
    assert tisa.code.value == "NOT_IN_FORCE" and "termination clause" not in (tisa.article or "")
    assert tisa.rule == "ACC-R1"


@pytest.mark.parametrize(
    ("args", "code", "rule"),
    [
        (("FRA", "SECRET", "FRA", "JPN"), "UNKNOWN_PARTY", "ACC-R2"),
        (("KOR", "ULTRA", "KOR", "JPN"), "UNKNOWN_LEVEL", "ACC-R2"),
        (("KOR", "군사Ⅱ급비밀", "KOR", "KOR"), "SAME_PARTY", "ACC-R3"),
    ],
)
def test_fail_closed_reasons_cite_a_rule(
    aset: AgreementSet, args: tuple[str, str, str, str], code: str, rule: str
) -> None:
    originator, classification, holder, recipient = args
    d = decide(
        make_label(originator=originator, classification=classification), holder, recipient, D2017, agreements=aset
    )
    assert denials(d) == {code} and d.denials[0].rule == rule


def test_no_channel_and_no_equivalent_cite_a_rule(aset: AgreementSet) -> None:
    gsomia = aset.get("jpn-kor-gsomia")
    assert gsomia is not None
    d = decide(make_label(), "KOR", "USA", D2017, agreements=AgreementSet([gsomia]))
    assert denials(d) == {"NO_CHANNEL"} and d.denials[0].rule == "ACC-R1"


# -- multi-hub routes ------------------------------------------------------------------------------------


def _arr(ident: str, parties: tuple[str, ...], hub: str | None, levels: dict[str, str]):  # type: ignore[no-untyped-def]
    from accord.core.agreements import Agreement, EquivalenceRow, Kind, LegalStatus, Lifecycle, Terms

    row = EquivalenceRow("SECRET", {p: levels[p] for p in parties})
    return Agreement(
        id=ident,
        title=ident,
        kind=Kind.MULTILATERAL if hub else Kind.BILATERAL,
        parties=tuple(sorted(parties)),
        hub=hub,
        terms=Terms(None, (row,)),
        onward_release_requires_consent=True,
        legal_status=LegalStatus.NOT_LEGALLY_BINDING,
        lifecycle=Lifecycle(date(2000, 1, 1), date(2000, 1, 1), None, False, None),
        schemes=WORLD,
    )


def _world():  # type: ignore[no-untyped-def]
    """The bundled schemes plus sixty synthetic nations (one SECRET level each)."""
    from accord.core.schemes import Level, Scheme, SchemeRegistry
    from accord.formats.spif import bundled_registry

    levels = {"KOR": "II", "JPN": "GOKUHI", "USA": "SECRET"}
    extra = []
    for i in range(60):
        code = "X" + chr(65 + i // 26) + chr(65 + i % 26)
        extra.append(Scheme(code, code, (Level(code, "S", f"{code}-S", 1, "SECRET"),)))
        levels[code] = "S"
    return bundled_registry().merged(SchemeRegistry(extra)), levels


WORLD, _LEVELS = _world()


@pytest.fixture
def world() -> dict[str, str]:
    """Level keys of the synthetic world's nations."""
    return _LEVELS


def test_route_through_two_hubs(world: dict[str, str]) -> None:
    """KOR → USA (hub of A) → XAA (hub of B) → XAB: fewest hubs first, modes per hub."""
    a = _arr("a", ("KOR", "USA", "XAA"), "USA", world)
    b = _arr("b", ("USA", "XAA", "XAB"), "XAA", world)
    lab = make_label(rel=("XAB", "USA"))
    d = decide(lab, "KOR", "XAB", D2017, agreements=AgreementSet([a, b]))
    assert d.allowed and d.route == ("KOR", "USA", "XAA", "XAB")
    assert [h.mode for h in d.hops] == ["relay-rewrap", "relay-blind", "relay-blind"]
    assert set(d.markings) == {"KOR", "USA", "XAB"} and d.consents_used == ("originator-request",)
    # a shorter route through one hub is preferred when there is one
    c = _arr("c", ("KOR", "XAC", "XAB"), "XAC", world)
    d2 = decide(lab, "KOR", "XAB", D2017, agreements=AgreementSet([a, b, c]))
    assert d2.allowed and d2.route == ("KOR", "XAC", "XAB")


def test_multi_hub_search_never_passes_through_the_originator(world: dict[str, str]) -> None:
    a = _arr("a", ("JPN", "USA", "XAA"), "USA", world)
    lab = make_label(originator="USA", classification="SECRET", rel=("JPN", "XAA"))
    d = decide(lab, "JPN", "XAA", D2017, agreements=AgreementSet([a]))
    assert not d.allowed and "ORIGINATOR_DECIDES" in denials(d)


def test_route_search_among_sixty_nations(world: dict[str, str]) -> None:
    """A chain of hubs across sixty synthetic nations: found, shortest, in the decision's own terms."""
    nations = [p for p in world if p.startswith("X")]
    arrs = [
        _arr(f"ring-{i}", (nations[i], nations[i + 1], nations[i + 2]), nations[i + 1], world) for i in range(0, 20, 1)
    ]
    lab = make_label(originator=nations[0], classification="S", rel=tuple(nations[:25]))
    d = decide(lab, nations[0], nations[5], D2017, agreements=AgreementSet(arrs))
    assert d.allowed and d.route[0] == nations[0] and d.route[-1] == nations[5]
    assert len(d.route) == 6


# -- the life of an item (pure values) -------------------------------------------------------------------


REC = Custody("item-1", "KOR", "JPN", "jpn-kor-gsomia", "KOR", date(2017, 1, 5), "군사Ⅱ급비밀", "極秘")


def test_returned_item_cannot_be_held_again() -> None:
    with pytest.raises(CustodyError):
        REC.to(CustodyState.RETURNED).to(CustodyState.HELD)


def test_compromise_goes_suspected_notified_investigating_reported_in_order() -> None:
    inc = Incident.suspect("item-1", "JPN", "KOR", date(2018, 1, 1))
    with pytest.raises(CustodyError):
        inc.advance(IncidentState.REPORTED, date(2018, 1, 2))  # no step skipped
    inc = inc.advance(IncidentState.NOTIFIED, date(2018, 1, 1))
    inc = inc.advance(IncidentState.INVESTIGATING, date(2018, 1, 3))
    with pytest.raises(CustodyError):
        inc.advance(IncidentState.REPORTED, date(2018, 1, 2))  # never backwards in time
    assert inc.advance(IncidentState.REPORTED, date(2018, 2, 1)).state is IncidentState.REPORTED


def test_derived_item_keeps_originator_high_water_mark_and_most_restrictive_releasability() -> None:
    secret = make_label(rel=("JPN", "USA"))
    conf = make_label(classification="군사Ⅲ급비밀", rel=("JPN",), topics=("DPRK-NUCLEAR",), item="item-2")
    rec2 = replace(REC, item="item-2", alternative="秘")
    label, rec, sources = derive([(secret, REC), (conf, rec2)], DerivedKind.REPRODUCTION, "copy-1", D2017)
    assert label.originator == "KOR" and label.classification == "군사Ⅱ급비밀"
    assert label.releasable_to == frozenset({"JPN"}) and label.topics == {"DPRK-MISSILE", "DPRK-NUCLEAR"}
    assert rec.sources == ("item-1", "item-2") and all(s.derived == ("copy-1",) and s.copies == 1 for s in sources)
    with pytest.raises(CustodyError):
        derive(
            [(secret, REC), (make_label(originator="USA", classification="SECRET"), REC)],
            DerivedKind.TRANSLATION,
            "t-1",
            D2017,
        )


def test_compromise_report_freezes_the_item_and_its_derivatives() -> None:
    _, copy, (src,) = derive([(make_label(), REC)], DerivedKind.TRANSLATION, "tr-1", D2017)
    _, copy2, (copy_updated,) = derive([(make_label(item="tr-1"), copy)], DerivedKind.REPRODUCTION, "tr-1-c", D2017)
    records = [src, copy_updated, copy2]
    with pytest.raises(CustodyError):
        freeze(records, "item-1", by="JPN")  # only the originator freezes
    frozen = freeze(records, "item-1", by="KOR")
    assert all(r.state is CustodyState.FROZEN for r in frozen)


def test_reclassification_only_by_the_originator() -> None:
    lab = make_label()
    assert reclassify(lab, "KOR", "군사Ⅲ급비밀").classification == "군사Ⅲ급비밀"
    with pytest.raises(CustodyError):
        reclassify(lab, "JPN", "군사Ⅲ급비밀")


def test_lawful_custody_is_presumed_under_the_first_agreement_that_could_carry_it(aset: AgreementSet) -> None:
    held = lawful_custody(make_label(), "JPN", D2015, agreements=aset)
    assert held.ok and held.agreement is not None and held.agreement.id == "kor-jpn-usa-tisa"
    held = lawful_custody(make_label(), "JPN", D2017, agreements=aset)  # the direct channel first
    assert held.ok and held.agreement is not None and held.agreement.id == "jpn-kor-gsomia"
    assert held.custody is not None and held.custody.received_on == date(2016, 11, 23)


def test_suspension_event_does_not_break_the_return(aset: AgreementSet) -> None:
    what_if = aset.what_if(add=[("jpn-kor-gsomia", Event(date(2024, 1, 1), EventType.SUSPENDED))])
    lab = replace(make_label(topics=("LOGISTICS",), rel=("JPN",)), created=datetime(2017, 1, 1, tzinfo=UTC))
    assert decide(lab, "JPN", "KOR", date(2024, 6, 1), agreements=what_if).allowed


def test_third_party_rule_applies_even_where_the_agreement_cites_no_article(world: dict[str, str]) -> None:
    """ACC-R9: an agreement file without citations still gets the third-party rule, and a rule id."""
    bilateral = _arr("bi", ("KOR", "XAA"), None, world)
    third = _arr("bi2", ("XAA", "XAB"), None, world)
    lab = make_label(rel=("XAA", "XAB"))
    d = decide(lab, "XAA", "XAB", D2017, agreements=AgreementSet([bilateral, third]))
    assert not d.allowed and denials(d) == {"CONSENT_REQUIRED"} and d.denials[0].rule == "ACC-R9"


def test_nothing_is_derived_from_a_frozen_or_returned_source() -> None:
    """JK-R23/JK-R24: copies and translations only of items held and releasable."""
    for state in (CustodyState.FROZEN, CustodyState.RETURNED):
        with pytest.raises(CustodyError):
            derive([(make_label(), REC.to(state))], DerivedKind.REPRODUCTION, "c-1", D2017)


def test_tisa_excludes_japanese_top_secret_and_korean_daeoebi_in_2015(aset: AgreementSet) -> None:
    """T-R6 (equivalent US classification, S and C only) and T-R2 (information definitions)."""
    kimitsu = make_label(originator="JPN", classification="機密", rel=("KOR", "USA"))
    d = decide(kimitsu, "JPN", "KOR", D2015, agreements=aset)
    assert not d.allowed and any(r.rule == "T-R6" and r.code.value == "LEVEL_NOT_COVERED" for r in d.denials)
    daeoebi = make_label(classification="대외비")
    d = decide(daeoebi, "KOR", "JPN", D2015, agreements=aset)
    assert not d.allowed and any(r.rule == "T-R2" for r in d.denials)


def test_access_for_another_purpose_needs_the_originators_approval(aset: AgreementSet) -> None:
    """JK-R7: the item was provided for a purpose; access for another (or none stated) is refused."""
    rec = replace(REC, purpose="DPRK-LAUNCH-ANALYSIS")
    assert access(
        ANALYST, make_label(), "JPN", D2017, agreements=aset, custody=rec, purpose="DPRK-LAUNCH-ANALYSIS"
    ).allowed
    for asked in ("TRAINING", None):
        d = access(ANALYST, make_label(), "JPN", D2017, agreements=aset, custody=rec, purpose=asked)
        assert not d.allowed and d.reasons[0].code.value == "OTHER_PURPOSE" and d.reasons[0].rule == "JK-R7"


def test_reclassification_reaches_a_copy_held_two_hops_away_and_its_derivatives() -> None:
    """KOR → JPN → (consented) USA; the US translated it. KOR's downgrade reaches JPN, then USA through JPN,
    and the US translation is re-marked (JK-R12, JK-R5)."""
    jp = REC.to(CustodyState.RELEASED)
    us = Custody("item-1", "KOR", "USA", "jpn-usa-gsomia", "JPN", date(2017, 2, 1), "군사Ⅱ급비밀", "SECRET")
    label = make_label()
    tr_label, tr, (us,) = derive([(label, us)], DerivedKind.TRANSLATION, "tr-1", D2017, language="en")
    records = [jp, us, tr]
    targets = notice_targets(records, "item-1", "KOR")
    assert [(t.holder, t.item, t.via, t.hops) for t in targets] == [
        ("JPN", "item-1", "KOR", 1),
        ("USA", "item-1", "JPN", 2),
        ("USA", "tr-1", "USA", 2),
    ]
    labels = reclassify_all({"item-1": label, "tr-1": tr_label}, records, "item-1", "KOR", "군사Ⅲ급비밀")
    assert labels["item-1"].classification == labels["tr-1"].classification == "군사Ⅲ급비밀"
    with pytest.raises(CustodyError):
        reclassify_all({"item-1": label}, records, "item-1", "USA", "군사Ⅲ급비밀")
    # a returned copy is not notified
    assert all(t.holder != "JPN" for t in notice_targets([jp.to(CustodyState.RETURNED), us], "item-1", "KOR"))


def test_custody_received_from_a_third_party_with_consent_is_lawful(aset: AgreementSet) -> None:
    """USA received KOR's item from JPN (consented) under the Japan–US GSOMIA: it holds it lawfully there, and
    its onward release still needs Korea's consent, while the return to Korea is open."""
    us = Custody("item-1", "KOR", "USA", "jpn-usa-gsomia", "JPN", date(2017, 2, 1))
    held = lawful_custody(make_label(), "USA", D2017, agreements=aset, record=us)
    assert held.ok and held.level is not None and held.level.marking == "SECRET"
    assert decide(make_label(), "USA", "KOR", D2017, agreements=aset, custody=us).allowed
    d = decide(make_label(rel=("JPN", "USA")), "USA", "JPN", D2017, agreements=aset, custody=us)
    assert not d.allowed and d.denials[0].code.value == "CONSENT_REQUIRED"
