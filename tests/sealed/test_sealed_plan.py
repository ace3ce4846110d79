"""One enforcement point (issue 8): accord.release plans, accord.sealed obeys and refuses a foreign plan."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from accord import release
from accord.core.labels import Label
from accord.errors import InputError, ReleaseRefused
from accord.formats.agreement_yaml import load_agreements
from accord.sealed import container as c
from accord.sealed import manifest as sealed_manifest

BEFORE_GSOMIA = date(2015, 6, 1)  # KOR->JPN only through the US hub (T-R5)
AFTER_GSOMIA = date(2017, 1, 5)


def _label(item: str = "item-1", rel: tuple[str, ...] = ("JPN", "USA")) -> Label:
    return Label(
        originator="KOR",
        classification="군사Ⅱ급비밀",
        topics=frozenset({"DPRK-MISSILE"}),
        releasable_to=frozenset(rel),
        created=datetime(2015, 1, 1, tzinfo=UTC),
        id=item,
    )


@pytest.fixture(scope="module")
def aset():
    return load_agreements()


def _seal(plan, label_xml, parties, roster, signer="KOR") -> bytes:
    out = io.BytesIO()
    c.seal_stream(io.BytesIO(b"x"), out, label_xml=label_xml, plan=plan, signer=parties[signer], roster=roster)
    return out.getvalue()


def test_a_plan_made_for_another_label_is_refused(parties, roster, aset):
    """The plan allowed item-1 (releasable to JPN); it cannot be used to seal item-2 (releasable to USA only)."""
    plan = release.plan_release(_label(), recipients=["JPN"], holder="KOR", agreements=aset, at=AFTER_GSOMIA)
    other = release.label_xml_of(_label("item-2", rel=("USA",)))
    with pytest.raises(InputError, match="another label"):
        _seal(plan, other, parties, roster)
    assert c.open_bytes(
        _seal(plan, release.label_xml_of(_label()), parties, roster), keys=parties["JPN"], roster=roster
    )


def test_a_plan_made_for_another_holder_is_refused(parties, roster, aset):
    plan = release.plan_release(_label(), recipients=["JPN"], holder="KOR", agreements=aset, at=AFTER_GSOMIA)
    with pytest.raises(InputError, match="must sign"):
        _seal(plan, release.label_xml_of(_label()), parties, roster, signer="USA")


def test_a_plan_weaker_than_its_minimum_suite_is_refused(parties, roster):
    from accord.sealed.suites import CLASSICAL, HYBRID

    xml = release.label_xml_of(_label())
    plan = c.ReleasePlan.without_decision(xml, holder="KOR", recipients=["JPN"], at=AFTER_GSOMIA, suite=CLASSICAL)
    weak = c.ReleasePlan(plan.label_digest, "KOR", AFTER_GSOMIA, plan.hops, suite=CLASSICAL, min_suite=HYBRID)
    with pytest.raises(InputError, match="weaker than the minimum"):
        _seal(weak, xml, parties, roster)


def test_a_rewrap_plan_made_for_another_item_is_refused(parties, roster, aset):
    first = release.seal_bytes(
        b"a",
        _label(),
        recipients=["JPN"],
        signer=parties["KOR"],
        roster=roster,
        agreements=aset,
        at=BEFORE_GSOMIA,
        relay="rewrap",
    )
    second = release.seal_bytes(
        b"b",
        _label(),
        recipients=["JPN"],
        signer=parties["KOR"],
        roster=roster,
        agreements=aset,
        at=BEFORE_GSOMIA,
        relay="rewrap",
    )
    item1 = c.verify_bytes(first, roster=roster)
    plan = release.plan_rewrap(item1, hub="USA", to="JPN", at=BEFORE_GSOMIA, agreements=aset)
    item2 = c.verify_bytes(second, roster=roster)
    with pytest.raises(InputError, match="another item"):
        c.rewrap_item(item2, plan, keys=parties["USA"], roster=roster)
    with pytest.raises(InputError, match="USA's"):
        c.rewrap_item(item1, plan, keys=parties["JPN"], roster=roster)


def test_plan_decides_once_per_recipient_with_hop_modes(aset, monkeypatch):
    calls: list[str] = []
    real = release.decide

    def counting(label, holder, recipient, *a, **kw):
        calls.append(recipient)
        return real(label, holder, recipient, *a, **kw)

    monkeypatch.setattr(release, "decide", counting)
    plan = release.plan_release(
        _label(), recipients=["JPN", "USA"], holder="KOR", agreements=aset, at=BEFORE_GSOMIA, relay="rewrap"
    )
    assert calls == ["JPN", "USA"]  # once per recipient; USA is both JPN's hub and a recipient itself
    assert [(h.party, h.mode) for h in plan.hops] == [("USA", "direct")]
    assert plan.relays[0].to == "JPN"
    hub = release.plan_release(
        _label(), recipients=["JPN"], holder="KOR", agreements=aset, at=BEFORE_GSOMIA, relay="rewrap"
    )
    assert [(h.party, h.mode, h.route) for h in hub.hops] == [("USA", "relay-rewrap", ("KOR", "USA"))]
    blind = release.plan_release(_label(), recipients=["JPN"], holder="KOR", agreements=aset, at=BEFORE_GSOMIA)
    assert [(h.party, h.mode, h.route) for h in blind.hops] == [("JPN", "relay-blind", ("KOR", "USA", "JPN"))]
    direct = release.plan_release(_label(), recipients=["JPN"], holder="KOR", agreements=aset, at=AFTER_GSOMIA)
    assert [(h.party, h.mode) for h in direct.hops] == [("JPN", "direct")]


def test_a_denied_decision_cannot_become_a_plan_JK_R6(aset):
    d = release.decide_hop(_label(rel=("USA",)), "KOR", "JPN", AFTER_GSOMIA, aset)
    with pytest.raises(ReleaseRefused):
        release.plan_from_decisions(_label(rel=("USA",)), [d], holder="KOR", at=AFTER_GSOMIA, agreements=aset)


def test_a_hub_hop_verifies_once_decrypts_once_writes_once(parties, roster, aset, monkeypatch):
    """One verification of the originator's statement for open + marking + re-wrap at the hub."""
    blob = release.seal_bytes(
        b"warning",
        _label(),
        recipients=["JPN"],
        signer=parties["KOR"],
        roster=roster,
        agreements=aset,
        at=BEFORE_GSOMIA,
        relay="rewrap",
    )
    checks: list[int] = []
    real = sealed_manifest.verify_signature
    monkeypatch.setattr(sealed_manifest, "verify_signature", lambda *a: (checks.append(1), real(*a))[1])
    item = c.verify_bytes(blob, roster=roster)
    assert len(checks) == 1
    opened = c.open_item(item, keys=parties["USA"])
    assert opened.payload == b"warning"
    plan = release.plan_rewrap(item, hub="USA", to="JPN", at=BEFORE_GSOMIA, agreements=aset)
    out = c.rewrap_item(item, plan, keys=parties["USA"], roster=roster).to_bytes()
    assert len(checks) == 1  # nothing verified twice
    monkeypatch.undo()
    assert c.open_bytes(out, keys=parties["JPN"], roster=roster).payload == b"warning"


def test_the_sealed_format_makes_no_decision():
    """accord.sealed imports neither the decision engine nor accord.release (layering, issue 8)."""
    root = Path(c.__file__).parent
    for f in root.glob("*.py"):
        text = f.read_text(encoding="utf-8")
        for forbidden in (
            "from accord.core.decision",
            "import accord.core.decision",
            "from accord.release",
            "from accord import release",
            "import accord.release",
        ):
            assert forbidden not in text, f.name
