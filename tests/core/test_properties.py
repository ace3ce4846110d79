"""Property tests (hypothesis) of the decision engine."""

from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.agreements import AgreementSet
from accord.core.consent import Consent
from accord.core.custody import lawful_custody
from accord.core.decision import decide
from accord.core.labels import Label
from accord.core.schemes import scheme_for
from accord.formats.agreement_yaml import load_agreements
from accord.formats.spif import bundled_registry

AGREEMENTS = load_agreements()
PARTIES = ["KOR", "JPN", "USA", "FRA"]
SPELLINGS = [s for sc in bundled_registry() for lv in sc.levels for s in lv.spellings()] + ["ULTRA", "SECRET"]
TOPICS = ["DPRK-MISSILE", "DPRK-NUCLEAR", "LOGISTICS", "NAVAL-OPS"]
DAYS = st.dates(min_value=date(2010, 1, 1), max_value=date(2030, 12, 31))

labels = st.builds(
    lambda o, c, t, r, cav, item: Label(
        originator=o,
        classification=c,
        topics=frozenset(t),
        releasable_to=frozenset(r),
        caveats=frozenset(cav),
        created=datetime(2010, 1, 1, tzinfo=UTC),
        id=item,
    ),
    st.sampled_from(PARTIES),
    st.sampled_from(SPELLINGS),
    st.sets(st.sampled_from(TOPICS), max_size=3),
    st.sets(st.sampled_from(PARTIES), max_size=4),
    st.sets(st.sampled_from(["ORIGINATOR-ONLY", "ORCON"]), max_size=2),
    st.sampled_from([None, "item-1", "item-2"]),
)


@st.composite
def consents(draw: st.DrawFn) -> Consent:
    originator = draw(st.sampled_from(PARTIES))
    holder = draw(st.sampled_from([p for p in PARTIES if p != originator]))
    recipient = draw(st.sampled_from([p for p in PARTIES if p != holder]))
    granted = draw(DAYS)
    until = draw(st.dates(min_value=granted, max_value=date(2031, 1, 1)))
    item = draw(st.sampled_from([None, "item-1", "item-2"]))
    topics = draw(st.sets(st.sampled_from(TOPICS), min_size=0 if item else 1, max_size=3))
    return Consent(
        id=f"c-{draw(st.integers(0, 99))}",
        originator=originator,
        holder=holder,
        recipient=recipient,
        granted=granted,
        until=until,
        item=item,
        topics=frozenset(topics),
    )


@st.composite
def agreement_sets(draw: st.DrawFn) -> AgreementSet:
    """The bundled set, a random subset of it, or with some of its dated events removed."""
    kept = [a for a in AGREEMENTS if draw(st.booleans()) or draw(st.booleans())]
    drops = []
    for ag in kept:
        for ev in ag.lifecycle.events:
            if draw(st.booleans()):
                drops.append((ag.id, ev.on))
    return AgreementSet(kept).what_if(drop=drops)


@settings(max_examples=400, deadline=None)
@given(
    labels, st.sampled_from(PARTIES), st.sampled_from(PARTIES), DAYS, st.lists(consents(), max_size=3), agreement_sets()
)
def test_no_release_ever_routes_to_or_through_a_party_without_an_agreement_in_force(
    label: Label, holder: str, recipient: str, at: date, cons: list[Consent], aset: AgreementSet
) -> None:
    d = decide(label, holder, recipient, at, cons, agreements=aset)
    if not d.allowed:
        assert d.denials, "a denial always says why"
        return
    assert not d.denials
    assert d.route[0] == holder and d.route[-1] == recipient
    assert len(set(d.route)) == len(d.route)
    assert recipient == label.originator or recipient in label.releasable_to
    assert "ORIGINATOR-ONLY" not in label.caveats or recipient == label.originator
    used = [aset.get(i) for i in d.agreements]
    assert all(a is not None for a in used)
    # ACC-R6: an item goes back to its originator directly whatever the state of the agreement it came under
    returned = tuple(d.route) == (holder, label.originator) and any(r.code.value == "RETURN" for r in d.reasons)
    for a, b in zip(d.route, d.route[1:], strict=False):
        assert scheme_for(a) is not None and scheme_for(b) is not None
        if returned:
            continue
        covering = [
            ag for ag in used if ag is not None and (a, b) in set(ag.channels()) and ag.state_at(at).exchange_allowed
        ]
        assert covering, f"hop {a}->{b} on {at} has no agreement in force"
        for ag in covering:
            terms = ag.terms_at(at)
            assert terms.topics is None or (label.topics and label.topics <= terms.topics)
    # every party that reads the item has a marking; a hub that relays blind has none (issue 10)
    readers = {h.to for h in d.hops if h.marking is not None} | {holder}
    assert set(d.markings) == readers and readers <= set(d.route)


@settings(max_examples=200, deadline=None)
@given(labels, st.sampled_from(PARTIES), st.sampled_from(PARTIES), DAYS, st.lists(consents(), max_size=3))
def test_same_inputs_give_the_same_decision(
    label: Label, holder: str, recipient: str, at: date, cons: list[Consent]
) -> None:
    first = decide(label, holder, recipient, at, cons, agreements=AGREEMENTS).to_dict()
    again = decide(label, holder, recipient, at, list(cons), agreements=load_agreements()).to_dict()
    assert first == again


@settings(max_examples=200, deadline=None)
@given(
    labels, st.sampled_from(PARTIES), st.sampled_from(PARTIES), DAYS, st.lists(consents(), max_size=3), agreement_sets()
)
def test_fewer_agreements_or_consents_never_allow_more(
    label: Label, holder: str, recipient: str, at: date, cons: list[Consent], subset: AgreementSet
) -> None:
    """Monotonicity: what a smaller set of agreements, or fewer consents, allows, the full set allows."""
    full_events = {a.id: a for a in AGREEMENTS}
    restored = AgreementSet(full_events[a.id] for a in subset)
    if decide(label, holder, recipient, at, cons[:1], agreements=restored).allowed:
        assert decide(label, holder, recipient, at, cons, agreements=restored).allowed
    if decide(label, holder, recipient, at, cons, agreements=restored).allowed:
        assert decide(label, holder, recipient, at, cons, agreements=AGREEMENTS).allowed


@settings(max_examples=200, deadline=None)
@given(labels, st.sampled_from(PARTIES), DAYS, st.lists(consents(), max_size=3))
def test_an_originator_needs_no_consent(label: Label, recipient: str, at: date, cons: list[Consent]) -> None:
    """The memo keys an originator's release without consents: they must indeed play no part."""
    fresh = AgreementSet(list(AGREEMENTS))
    with_consents = decide(label, label.originator, recipient, at, cons, agreements=fresh).to_dict()
    fresh.memo.clear()
    without = decide(label, label.originator, recipient, at, (), agreements=fresh).to_dict()
    assert with_consents == without


@settings(max_examples=400, deadline=None)
@given(
    labels, st.sampled_from(PARTIES), st.sampled_from(PARTIES), DAYS, st.lists(consents(), max_size=3), agreement_sets()
)
def test_no_release_reaches_a_party_outside_the_releasability_and_the_custody_chain(
    label: Label, holder: str, recipient: str, at: date, cons: list[Consent], aset: AgreementSet
) -> None:
    """Every party that reads the item (holder, re-wrapping hubs, recipient) is its originator or within
    its releasability; a hub outside it only forwards the sealed item; the holder holds it lawfully."""
    d = decide(label, holder, recipient, at, cons, agreements=aset)
    if not d.allowed:
        return
    lawful = {label.originator} | set(label.releasable_to)
    assert holder in lawful and recipient in lawful
    if holder != label.originator:
        assert lawful_custody(label, holder, at, agreements=aset).ok
    for hop in d.hops:
        if hop.marking is None:
            assert hop.mode == "relay-blind"
            assert hop.to not in d.markings
        else:
            assert hop.to in lawful
    assert set(d.markings) <= lawful
    if "ORIGINATOR-ONLY" in label.caveats:
        assert recipient == label.originator
    # a route through the originator is never an automatic release
    if holder != label.originator and recipient != label.originator:
        assert label.originator not in d.route


@settings(max_examples=400, deadline=None)
@given(labels, st.sampled_from(PARTIES), DAYS, agreement_sets())
def test_a_return_to_the_originator_is_never_refused_while_held_lawfully(
    label: Label, holder: str, at: date, aset: AgreementSet
) -> None:
    level = aset.schemes.level(label.originator, label.classification)
    if holder == label.originator or level is None or holder not in aset.schemes or not aset:
        return
    if lawful_custody(label, holder, at, agreements=aset).ok:
        d = decide(label, holder, label.originator, at, agreements=aset)
        assert d.allowed, d.denials
        assert d.markings[label.originator] == level.marking


@settings(max_examples=300, deadline=None)
@given(
    labels,
    st.sampled_from(PARTIES),
    DAYS,
    DAYS,
    st.sampled_from(sorted(a.id for a in AGREEMENTS)),
    st.sampled_from(["HELD", "RELEASED", "COMPROMISED", "FROZEN"]),
    agreement_sets(),
)
def test_a_return_with_a_custody_record_is_never_refused_while_held_lawfully(
    label: Label, holder: str, received: date, at: date, agreement: str, state: str, aset: AgreementSet
) -> None:
    from accord.core.custody import Custody, CustodyState

    if (
        holder == label.originator
        or aset.schemes.level(label.originator, label.classification) is None
        or holder not in aset.schemes
        or not aset
    ):
        return
    record = Custody(
        label.id, label.originator, holder, agreement, label.originator, received, state=CustodyState(state)
    )
    if lawful_custody(label, holder, at, agreements=aset, record=record).ok:
        d = decide(label, holder, label.originator, at, agreements=aset, custody=record)
        assert d.allowed, d.denials
        if state in ("COMPROMISED", "FROZEN"):
            others = [p for p in PARTIES if p not in (holder, label.originator)]
            for other in others:
                assert not decide(label, holder, other, at, agreements=aset, custody=record).allowed
