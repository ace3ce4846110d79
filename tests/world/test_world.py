"""Synthetic worlds, the exhaustive flow check, worlds as files, and the matrix at scale."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.agreements import AgreementSet
from accord.core.decision import Code, Decision, decide
from accord.core.labels import Label
from accord.core.matrix import sharing_matrix
from accord.core.synth import nation_code, synth_world
from accord.core.verify import OTHER, lifecycle_dates, topic_classes, verify
from accord.errors import AgreementError
from accord.formats.world import load_world, write_world


def test_synthetic_worlds_are_deterministic_by_seed() -> None:
    a, b, c = synth_world(12, 30, 4, seed=7), synth_world(12, 30, 4, seed=7), synth_world(12, 30, 4, seed=8)
    assert a.nations == b.nations == tuple(nation_code(i) for i in range(12))
    assert len(a.agreements) == 34

    def shape(w: Any) -> list[object]:
        return [(g.id, g.parties, g.hub, g.lifecycle, g.terms) for g in w.agreements]

    assert shape(a) == shape(b)
    assert shape(a) != shape(c)
    assert all(g.schemes is a.schemes for g in a.agreements) and a.agreements.schemes is a.schemes


def test_synthetic_world_has_hubs_other_than_one_nation() -> None:
    w = synth_world(40, 360, 40, seed=1)
    hubs = {g.hub for g in w.agreements if g.hub}
    assert len(hubs) > 5  # routing is not tied to one hub
    assert any(g.lifecycle.events for g in w.agreements)


@pytest.mark.parametrize(("n", "m", "k"), [(1, 0, 0), (3, 4, 0), (2, 1, 1)])
def test_synthetic_world_refuses_impossible_shapes(n: int, m: int, k: int) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each shape has its own message
        synth_world(n, m, k)


def test_verify_bundled_world_is_ok_and_lists_flows() -> None:
    r = verify(load_world())
    assert r.ok and r.pairs == 6 and r.allowed > 0
    relay = [f for f in r.flows if f.holder == "KOR" and f.recipient == "JPN" and f.route == ("KOR", "USA", "JPN")]
    assert relay and relay[0].start == date(2014, 12, 29) and relay[0].end == date(2016, 11, 23)
    assert relay[0].topics == "DPRK-MISSILE|DPRK-NUCLEAR" and relay[0].level == "군사Ⅱ급비밀"
    # Nothing KOR→JPN outside the TISA topics before the GSOMIA (T-R1).
    assert not [
        f
        for f in r.flows
        if (f.holder, f.recipient, f.topics) == ("KOR", "JPN", OTHER) and f.start < date(2016, 11, 23)
    ]


def test_verify_synthetic_world_is_ok() -> None:
    w = synth_world(15, 50, 8, seed=3)
    r = verify(w.agreements)
    assert r.ok, r.violations[:3]
    assert r.pairs == 15 * 14 and r.decisions > 1000


def _lax(d: Decision) -> Decision:
    """What a broken engine would return: allowed, along the direct hop, citing the channel."""
    return d._replace(
        allowed=True,
        route=(d.holder, d.recipient),
        markings=MappingProxyType({d.recipient: d.label.classification}),
        reasons=(),
    )


def test_verify_fails_an_engine_that_ignores_lifecycles() -> None:
    """An engine that releases under an agreement not in force (e.g. the 2012 aborted GSOMIA) is caught."""

    def broken(
        label: Label, holder: str, recipient: str, at: date, consents: Any = (), *, agreements: AgreementSet
    ) -> Decision:
        d = decide(label, holder, recipient, at, consents, agreements=agreements)
        if not d.allowed and any(r.code in (Code.NOT_IN_FORCE, Code.TERMINATED, Code.SUSPENDED) for r in d.denials):
            g = next(r.agreement for r in d.denials if r.agreement)
            return _lax(d)._replace(agreements=(g,))
        return d

    r = verify(load_world(), decide_fn=broken)
    assert not r.ok
    assert any("not covered by an agreement in force" in v.problem for v in r.violations)


def test_verify_fails_an_engine_that_crosses_a_hub_between_spokes() -> None:
    def broken(
        label: Label, holder: str, recipient: str, at: date, consents: Any = (), *, agreements: AgreementSet
    ) -> Decision:
        d = decide(label, holder, recipient, at, consents, agreements=agreements)
        if d.allowed and len(d.route) == 3:  # skip the hub: KOR→JPN directly under TISA (T-R4)
            return d._replace(route=(holder, recipient))
        return d

    r = verify(load_world(), decide_fn=broken)
    assert not r.ok and any("two spokes" in v.problem for v in r.violations)


def test_verify_fails_an_engine_with_a_wrong_marking() -> None:
    def broken(
        label: Label, holder: str, recipient: str, at: date, consents: Any = (), *, agreements: AgreementSet
    ) -> Decision:
        d = decide(label, holder, recipient, at, consents, agreements=agreements)
        return d._replace(markings=MappingProxyType({**d.markings, recipient: "WRONG"})) if d.allowed else d

    assert any("marking" in v.problem for v in verify(load_world(), decide_fn=broken).violations)


def test_lifecycle_dates_include_computed_expiry() -> None:
    gsomia = load_world().get("jpn-kor-gsomia")
    assert gsomia is not None
    days = lifecycle_dates(gsomia)
    assert {date(2016, 11, 23), date(2019, 8, 23), date(2019, 11, 23), date(2019, 11, 22)} <= days


def test_topic_classes_group_topics_treated_alike() -> None:
    classes = topic_classes(load_world())
    assert ("DPRK-MISSILE", "DPRK-NUCLEAR") in classes and (OTHER,) in classes and () in classes


def test_world_written_as_files_loads_and_decides_the_same(tmp_path: Path) -> None:
    w = synth_world(10, 25, 4, seed=5)
    write_world(w.agreements, tmp_path)
    loaded = load_world(tmp_path)
    assert [g.id for g in loaded] == [g.id for g in w.agreements]
    assert set(w.nations) <= set(loaded.schemes.parties)
    rng = random.Random(1)
    created = datetime(2000, 1, 1, tzinfo=UTC)
    for _ in range(400):
        a, b = rng.sample(w.nations, 2)
        lv = rng.choice(w.schemes[a].levels)
        lab = Label(
            originator=a,
            classification=lv.marking,
            topics=frozenset({rng.choice(["MISSILE", "CYBER", "X"])}),
            releasable_to=frozenset({b}),
            created=created,
        )
        day = date(1990, 1, 1) + timedelta(days=rng.randrange(0, 40 * 365))
        d1 = decide(lab, a, b, day, agreements=w.agreements)
        d2 = decide(lab, a, b, day, agreements=loaded)
        assert (d1.allowed, d1.route, d1.agreements, dict(d1.markings)) == (
            d2.allowed,
            d2.route,
            d2.agreements,
            dict(d2.markings),
        )


def test_adding_a_nation_is_adding_files(tmp_path: Path) -> None:
    """A new nation (its SPIF) and an agreement with it: decided without a code change."""
    w = synth_world(3, 1, 0, seed=0)
    write_world(w.agreements, tmp_path)
    spif = tmp_path / "spif"
    (spif / "XAA.xml").rename(spif / "GBR.xml")
    text = (spif / "GBR.xml").read_text(encoding="utf-8").replace("XAA", "GBR")
    (spif / "GBR.xml").write_text(text, encoding="utf-8")
    for f in (tmp_path / "agreements").iterdir():
        f.unlink()
    (tmp_path / "agreements" / "gbr-jpn.yaml").write_text(
        "id: gbr-jpn\ntitle: test\nkind: bilateral\nparties: [GBR, JPN]\nlegal_status: legally-binding\n"
        "onward_release_requires_consent: true\nscope: {topics: all}\n"
        "equivalence:\n  - {name: SECRET, levels: {GBR: GBR SECRET, JPN: 極秘}}\n"
        "lifecycle: {signed: 2013-07-04, in_force: 2014-01-01}\n",
        encoding="utf-8",
    )
    (spif / "GBR.xml").rename(spif / "GBX.xml")
    with pytest.raises(AgreementError, match="named GBX but defines GBR"):
        load_world(tmp_path)
    (spif / "GBX.xml").rename(spif / "GBR.xml")
    aset = load_world(tmp_path)
    lab = Label(
        originator="GBR",
        classification="GBR SECRET",
        topics=frozenset({"X"}),
        releasable_to=frozenset({"JPN"}),
        created=datetime(2015, 1, 1, tzinfo=UTC),
    )
    d = decide(lab, "GBR", "JPN", date(2015, 1, 1), agreements=aset)
    assert d.allowed and d.marking == "極秘"
    assert not decide(lab, "GBR", "JPN", date(2013, 12, 31), agreements=aset).allowed
    # The same agreement naming a nation without a SPIF is refused, naming file and field.
    (spif / "GBR.xml").unlink()
    with pytest.raises(AgreementError) as exc:
        load_world(tmp_path)
    assert (
        "gbr-jpn.yaml: equivalence[0].levels.GBR: no national policy (SPIF) is loaded for GBR"
        in exc.value.diagnostics()
    )


def test_unknown_party_in_a_synthetic_world_is_denied() -> None:
    w = synth_world(5, 6, 1, seed=2)
    lab = Label(
        originator="KOR",
        classification="군사Ⅱ급비밀",
        topics=frozenset({"X"}),
        releasable_to=frozenset({"XAA"}),
        created=datetime(2015, 1, 1, tzinfo=UTC),
    )
    d = decide(lab, "KOR", "XAA", date(2020, 1, 1), agreements=w.agreements)
    assert not d.allowed and d.reasons[0].code is Code.UNKNOWN_PARTY


def test_matrix_of_forty_nations_has_every_cell() -> None:
    w = synth_world(40, 360, 40, seed=1)
    m = sharing_matrix(w.agreements, date(2020, 1, 1))
    assert len(m.cells) == 40 * 39 * len(m.topics)
    assert 0 < m.allowed_count < len(m.cells)
    some = next(c for c in m.cells if c.allowed)
    assert m.cell(some.holder, some.recipient, some.topic) is some
    lonely = [
        c
        for c in m.cells
        if not w.agreements.channels(c.holder, c.recipient) and not w.agreements.hub_arrangements(c.holder, c.recipient)
    ]
    # issue 10: routes may pass several hubs; a pair with none on paper is NO_CHANNEL, else its hubs' reasons
    hubs = {a.id for a in w.agreements if a.hub is not None}
    assert lonely and all(
        not c.allowed
        and (c.decision.denials[0].code is Code.NO_CHANNEL or all(r.agreement in hubs for r in c.decision.denials))
        for c in lonely
    )


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 9))
def test_property_every_allowed_flow_of_any_synthetic_world_is_justified(seed: int, n: int) -> None:
    pairs = n * (n - 1) // 2
    w = synth_world(n, min(pairs, 2 * n), n // 3, seed=seed)
    r = verify(w.agreements, flows=False)
    assert r.ok, r.violations[:3]


def test_verify_onward_releases_ok_on_the_bundled_worlds() -> None:
    assert verify(load_world(), onward=True, flows=False).ok
    assert verify(synth_world(6, 10, 2, seed=9).agreements, onward=True, flows=False).ok


def test_verify_onward_fails_an_engine_that_ignores_the_third_party_rule() -> None:
    """JK-R6: an engine releasing JPN's item from the US to Korea without JPN's consent is caught."""

    def broken(
        label: Label, holder: str, recipient: str, at: date, consents: Any = (), *, agreements: AgreementSet
    ) -> Decision:
        d = decide(label, holder, recipient, at, consents, agreements=agreements)
        if d.awaiting_consent:
            return d._replace(allowed=True)
        return d

    r = verify(load_world(), decide_fn=broken, onward=True, flows=False)
    assert not r.ok
    assert any("without its consent (JK-R6)" in v.problem and "without consent" in v.topics for v in r.violations)


def test_verify_onward_fails_an_engine_with_a_wrong_held_marking() -> None:
    def broken(
        label: Label, holder: str, recipient: str, at: date, consents: Any = (), *, agreements: AgreementSet
    ) -> Decision:
        d = decide(label, holder, recipient, at, consents, agreements=agreements)
        if d.allowed and holder != label.originator:
            return d._replace(markings=MappingProxyType({**d.markings, holder: "HELD WRONG"}))
        return d

    r = verify(load_world(), decide_fn=broken, onward=True, flows=False)
    assert any("holds" in v.problem and "HELD WRONG" in v.problem for v in r.violations)
