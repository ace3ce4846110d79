"""Agreement lifecycle: entry into force, renewal, notice, suspension, withdrawal, termination."""

from datetime import date

import pytest

from accord.core.agreements import (
    Agreement,
    AgreementSet,
    Event,
    EventType,
    Kind,
    LegalStatus,
    Lifecycle,
    Status,
    Terms,
)


def test_jk_gsomia_states_through_history(aset: AgreementSet) -> None:
    ag = aset.get("jpn-kor-gsomia")
    assert ag is not None
    expect = [
        (date(2012, 7, 1), Status.NOT_IN_FORCE, "signing was aborted on 2012-06-29"),
        (date(2016, 11, 22), Status.NOT_IN_FORCE, "enters into force on 2016-11-23"),
        (date(2016, 11, 23), Status.IN_FORCE, "current term ends 2017-11-23, renewing automatically"),
        (date(2018, 11, 23), Status.IN_FORCE, "current term ends 2019-11-23"),
        (date(2019, 8, 23), Status.NOTICE_PENDING, "in force until 2019-11-23"),
        (date(2019, 11, 21), Status.NOTICE_PENDING, "in force until 2019-11-23"),
        (date(2019, 11, 22), Status.NOTICE_SUSPENDED, "suspended on 2019-11-22"),
        (date(2021, 1, 1), Status.NOTICE_SUSPENDED, "notice of termination of 2019-08-23"),
        (date(2023, 3, 21), Status.IN_FORCE, "current term ends 2023-11-23"),
        (date(2026, 11, 28), Status.IN_FORCE, "current term ends 2027-11-23"),
    ]
    for day, status, text in expect:
        st = ag.state_at(day)
        assert st.status is status, (day, st)
        assert text in st.message, (day, st.message)


def test_notice_never_suspended_terminates_on_the_anniversary(aset: AgreementSet) -> None:
    """The hypothetical of the matrix: without the 2019-11-22 suspension the GSOMIA ends on 2019-11-23."""
    what_if = aset.what_if(drop=[("jpn-kor-gsomia", date(2019, 11, 22))])
    ag = what_if.get("jpn-kor-gsomia")
    assert ag is not None
    assert ag.state_at(date(2019, 11, 22)).status is Status.NOTICE_PENDING
    st = ag.state_at(date(2019, 11, 23))
    assert st.status is Status.TERMINATED
    assert "2019-11-23" in st.message
    # a later withdrawal cannot revive a terminated agreement
    assert ag.state_at(date(2023, 6, 1)).status is Status.TERMINATED
    # the real set is untouched
    real = aset.get("jpn-kor-gsomia")
    assert real is not None and real.state_at(date(2019, 11, 23)).status is Status.NOTICE_SUSPENDED


def test_notice_expiry_leaves_the_full_notice_period(aset: AgreementSet) -> None:
    ag = aset.get("jpn-kor-gsomia")
    assert ag is not None
    life = ag.lifecycle
    assert life.expiry_after_notice(date(2019, 8, 24)) == date(2019, 11, 23)  # 91 days: in time
    assert life.expiry_after_notice(date(2019, 8, 25)) == date(2019, 11, 23)  # exactly 90 days
    assert life.expiry_after_notice(date(2019, 8, 26)) == date(2020, 11, 23)  # too late: next term


def _agreement(events: tuple[Event, ...], *, term: int | None = None, renew: bool = False) -> Agreement:
    return Agreement(
        id="x",
        title="X",
        kind=Kind.BILATERAL,
        parties=("JPN", "USA"),
        hub=None,
        terms=Terms(topics=None, equivalence=()),
        onward_release_requires_consent=True,
        legal_status=LegalStatus.LEGALLY_BINDING,
        lifecycle=Lifecycle(
            signed=date(2000, 1, 1),
            in_force=date(2000, 2, 1),
            term_years=term,
            auto_renewal=renew,
            notice_days=90,
            events=events,
        ),
    )


def test_indefinite_agreement_ends_when_notice_period_runs() -> None:
    ag = _agreement((Event(date(2010, 1, 1), EventType.NOTICE_OF_TERMINATION),))
    assert ag.state_at(date(2010, 3, 31)).status is Status.NOTICE_PENDING
    assert ag.state_at(date(2010, 4, 1)).status is Status.TERMINATED


def test_fixed_term_without_renewal_expires() -> None:
    ag = _agreement((), term=5, renew=False)
    assert ag.state_at(date(2005, 1, 31)).status is Status.IN_FORCE
    st = ag.state_at(date(2005, 2, 1))
    assert st.status is Status.TERMINATED and "end of its term" in st.message


def test_suspension_and_resumption() -> None:
    ag = _agreement((Event(date(2010, 1, 1), EventType.SUSPENDED), Event(date(2011, 1, 1), EventType.RESUMED)))
    assert ag.state_at(date(2010, 6, 1)).status is Status.SUSPENDED
    assert not ag.state_at(date(2010, 6, 1)).exchange_allowed
    assert ag.state_at(date(2011, 1, 1)).status is Status.IN_FORCE


def test_termination_event_is_final() -> None:
    ag = _agreement((Event(date(2010, 1, 1), EventType.TERMINATED), Event(date(2011, 1, 1), EventType.RESUMED)))
    assert ag.state_at(date(2009, 12, 31)).exchange_allowed
    assert ag.state_at(date(2012, 1, 1)).status is Status.TERMINATED


def test_withdrawn_notice_restores_renewal() -> None:
    ag = _agreement(
        (Event(date(2010, 1, 1), EventType.NOTICE_OF_TERMINATION), Event(date(2010, 2, 1), EventType.NOTICE_WITHDRAWN))
    )
    assert ag.state_at(date(2011, 1, 1)).status is Status.IN_FORCE


def test_amendment_changes_terms_from_its_date() -> None:
    new = Terms(topics=frozenset({"DPRK-MISSILE"}), equivalence=())
    ag = _agreement((Event(date(2010, 1, 1), EventType.AMENDED, terms=new),))
    assert ag.terms_at(date(2009, 12, 31)).topics is None
    assert ag.terms_at(date(2010, 1, 1)).topics == {"DPRK-MISSILE"}


def test_what_if_rejects_unknown_agreement_or_event(aset: AgreementSet) -> None:
    with pytest.raises(KeyError):
        aset.what_if(drop=[("nope", date(2019, 11, 22))])
    with pytest.raises(KeyError):
        aset.what_if(drop=[("jpn-kor-gsomia", date(2019, 11, 21))])


def test_hub_arrangement_has_no_spoke_to_spoke_channel(aset: AgreementSet) -> None:
    """T-R4: under TISA, KOR and JPN have no direct edge; they reach each other through the US."""
    tisa = aset.get("kor-jpn-usa-tisa")
    assert tisa is not None
    pairs = set(tisa.channels())
    assert ("KOR", "JPN") not in pairs and ("JPN", "KOR") not in pairs
    assert {("KOR", "USA"), ("USA", "JPN"), ("JPN", "USA"), ("USA", "KOR")} <= pairs
    warning = aset.get("kor-jpn-usa-missile-warning")  # M-R4: the 2023 mechanism relays through the same hub
    assert aset.hub_arrangements("KOR", "JPN") == (warning, tisa)
