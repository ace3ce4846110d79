"""Sealing follows the decisions; a hub relays blind or re-wraps (T-R5: the originator's request)."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, date, datetime

import pytest

from accord import release
from accord.core.consent import Consent
from accord.core.decision import Decision
from accord.core.labels import Label
from accord.errors import InputError, IntegrityError, ReleaseRefused, TrustError
from accord.formats.agreement_yaml import load_agreements
from accord.formats.stanag4774 import alternative_label_xml
from accord.sealed import container as c
from accord.sealed.suites import CLASSICAL, HYBRID
from tests.sealed.util import read_zip, rebuild

BEFORE_GSOMIA = date(2015, 6, 1)  # KOR->JPN only through the US hub (trilateral arrangement)
AFTER_GSOMIA = date(2017, 1, 5)  # KOR->JPN direct under the Japan-ROK GSOMIA


def label(rel=("JPN", "USA")) -> Label:
    return Label(
        originator="KOR",
        classification="군사Ⅱ급비밀",
        topics=frozenset({"DPRK-MISSILE"}),
        releasable_to=frozenset(rel),
        created=datetime(2015, 1, 1, tzinfo=UTC),
        id="item-1",
    )


@pytest.fixture
def seal(parties, roster, aset):
    """``release.seal_bytes`` of ``label()`` by KOR for JPN after the GSOMIA, under the bundled agreements."""

    def run(payload=b"x", *, lab=None, recipients=("JPN",), signer="KOR", at=AFTER_GSOMIA, agreements=None, **kw):
        return release.seal_bytes(
            payload,
            label() if lab is None else lab,
            recipients=list(recipients),
            signer=parties[signer],
            roster=roster,
            agreements=aset if agreements is None else agreements,
            at=at,
            **kw,
        )

    return run


def consent(cid, holder, recipient, year) -> Consent:
    """KOR's written consent for item-1, valid through ``year``."""
    return Consent(
        id=cid,
        originator="KOR",
        holder=holder,
        recipient=recipient,
        granted=date(year, 1, 1),
        until=date(year, 12, 31),
        item="item-1",
    )


def test_seal_asks_decide_for_every_recipient_and_both_open(parties, roster, seal):
    blob = seal(b"launch data", recipients=["JPN", "USA"])
    for p in ("JPN", "USA"):
        opened = c.open_bytes(blob, keys=parties[p], roster=roster)
        assert opened.payload == b"launch data"
        assert opened.label == label()
    manifest, _ = read_zip(blob)
    rec = {r["party"]: r for r in manifest["statement"]["recipients"]}
    assert rec["JPN"]["agreements"] == ["jpn-kor-gsomia"]
    assert rec["USA"]["route"] == ["KOR", "USA"]


def test_denied_recipient_is_refused_with_the_decision(seal):
    # JK-R6 / releasability: the originator did not mark the item releasable to JPN.
    with pytest.raises(ReleaseRefused) as info:
        seal(lab=label(rel=("USA",)), recipients=["USA", "JPN"])
    assert info.value.recipient == "JPN"
    assert isinstance(info.value.decision, Decision)
    assert not info.value.decision.allowed
    assert "JPN" in str(info.value)


def test_unknown_nation_is_refused(seal):
    with pytest.raises(ReleaseRefused):
        seal(recipients=["CHN"])


def test_no_agreement_loaded_fails_closed(seal):
    from accord.core.agreements import AgreementSet

    with pytest.raises(ReleaseRefused):
        seal(agreements=AgreementSet())


def test_minimum_suite_is_enforced(roster, seal):
    with pytest.raises(InputError, match="weaker than the minimum"):
        seal(suite=CLASSICAL, min_suite=HYBRID)
    blob = seal(suite=HYBRID, min_suite=CLASSICAL)
    assert c.inspect_bytes(blob, roster=roster).manifest.suite == HYBRID


def test_agreement_minimum_suite_is_enforced(seal, tmp_path):
    """An agreement document's min_suite refuses a weaker suite for releases under it."""

    from accord.formats.agreement_yaml import bundled_dir

    for f in bundled_dir().glob("*.yaml"):
        text = f.read_text(encoding="utf-8")
        if f.name == "jpn-kor-gsomia.yaml":
            text = text.replace(
                "legal_status: legally-binding", f"min_suite: {HYBRID}\nlegal_status: legally-binding", 1
            )
        (tmp_path / f.name).write_text(text, encoding="utf-8")
    strict = load_agreements(tmp_path)
    assert strict.get("jpn-kor-gsomia").min_suite == HYBRID
    with pytest.raises(InputError, match="weaker than the minimum"):
        seal(agreements=strict, suite=CLASSICAL)
    seal(agreements=strict, suite=HYBRID)


def test_blind_forwarding_hub_cannot_read_final_recipient_can(parties, roster, seal):
    """T-R5 relay through the US hub, sealed end to end for JPN: the hub forwards the bytes unread."""
    blob = seal(b"warning", at=BEFORE_GSOMIA, relay="blind")
    manifest, _ = read_zip(blob)
    assert manifest["statement"]["recipients"][0]["route"] == ["KOR", "USA", "JPN"]
    with pytest.raises(TrustError, match="not a recipient"):
        c.open_bytes(blob, keys=parties["USA"], roster=roster)
    ins = c.inspect_bytes(blob, roster=roster)  # the hub can still check label, signature and payload
    assert ins.ok
    forwarded = bytes(blob)  # the hub's whole job
    assert c.open_bytes(forwarded, keys=parties["JPN"], roster=roster).payload == b"warning"


def test_rewrap_at_the_hub_on_the_originators_request(parties, roster, aset, seal):
    blob = seal(b"warning", at=BEFORE_GSOMIA, relay="rewrap")
    manifest, _ = read_zip(blob)
    assert [k["recipient"] for k in manifest["keyAccess"]] == ["USA"]
    assert manifest["statement"]["relays"][0]["to"] == "JPN"
    with pytest.raises(TrustError):
        c.open_bytes(blob, keys=parties["JPN"], roster=roster)
    assert c.open_bytes(blob, keys=parties["USA"], roster=roster).payload == b"warning"

    relayed = release.rewrap(blob, keys=parties["USA"], roster=roster, to="JPN", agreements=aset, at=BEFORE_GSOMIA)
    opened = c.open_bytes(relayed, keys=parties["JPN"], roster=roster)
    assert opened.payload == b"warning"
    assert opened.signer == "KOR"  # the originator's signature stays valid
    grant = opened.recipients[-1]
    assert (grant.party, grant.granted_by) == ("JPN", "USA")
    assert grant.route == ("KOR", "USA", "JPN")
    m2, _ = read_zip(relayed)
    assert m2["statement"] == manifest["statement"]
    assert m2["signature"] == manifest["signature"]
    assert m2["rewraps"][0]["signed"]["basis"] == "originator-request"
    assert c.inspect_bytes(relayed, roster=roster).ok


def test_rewrap_without_request_or_consent_is_refused(parties, roster, aset, seal):
    blob = seal(recipients=["USA"])
    with pytest.raises(ReleaseRefused) as info:
        release.rewrap(blob, keys=parties["USA"], roster=roster, to="JPN", agreements=aset, at=AFTER_GSOMIA)
    assert not info.value.decision.allowed


def test_rewrap_with_the_originators_written_consent(parties, roster, aset, seal):
    blob = seal(recipients=["USA"])
    written = consent("KOR-2017-001", "USA", "JPN", 2017)
    out = release.rewrap(
        blob, keys=parties["USA"], roster=roster, to="JPN", agreements=aset, at=AFTER_GSOMIA, consents=[written]
    )
    assert c.open_bytes(out, keys=parties["JPN"], roster=roster).payload == b"x"
    m, _ = read_zip(out)
    assert m["rewraps"][0]["signed"]["basis"] == "decision"


def test_rewrap_by_a_party_that_cannot_read_is_refused(parties, roster, aset, seal):
    blob = seal(at=BEFORE_GSOMIA, relay="blind")
    written = consent("c1", "USA", "JPN", 2015)
    with pytest.raises(InputError, match="already holds a key"):
        release.rewrap(
            blob, keys=parties["USA"], roster=roster, to="JPN", agreements=aset, at=BEFORE_GSOMIA, consents=[written]
        )
    item = c.verify_bytes(blob, roster=roster)
    plan = c.RewrapPlan(item.statement_digest, "USA", "KOR", BEFORE_GSOMIA, "x")
    with pytest.raises(TrustError, match="not a recipient"):
        c.rewrap_stream(io.BytesIO(blob), io.BytesIO(), keys=parties["USA"], roster=roster, plan=plan)


@pytest.fixture
def relayed(parties, roster, aset, seal):
    blob = seal(b"warning", at=BEFORE_GSOMIA, relay="rewrap")
    return release.rewrap(blob, keys=parties["USA"], roster=roster, to="JPN", agreements=aset, at=BEFORE_GSOMIA)


@pytest.mark.parametrize(("field", "value"), [("to", "KOR"), ("basis", "forged"), ("route", ["KOR", "JPN"])])
def test_tampered_rewrap_record_is_detected(parties, roster, relayed, field, value):
    def fn(m):
        m["rewraps"][0]["signed"][field] = value
        if field == "to":
            m["keyAccess"][1]["recipient"] = "KOR"

    with pytest.raises((IntegrityError, InputError)):
        c.open_bytes(rebuild(relayed, fn), keys=parties["JPN"], roster=roster)


def test_rewrapped_key_swapped_is_detected(parties, roster, relayed):
    def fn(m):
        w = bytearray(base64.b64decode(m["keyAccess"][1]["wrappedKey"]))
        w[-1] ^= 1
        m["keyAccess"][1]["wrappedKey"] = base64.b64encode(bytes(w)).decode()

    with pytest.raises(IntegrityError):
        c.open_bytes(rebuild(relayed, fn), keys=parties["JPN"], roster=roster)


def test_rewrap_record_dropped_is_detected(parties, roster, relayed):
    def fn(m):
        m["rewraps"] = []

    with pytest.raises(IntegrityError):
        c.open_bytes(rebuild(relayed, fn), keys=parties["JPN"], roster=roster)


def test_receiving_nation_adds_its_alternative_label(parties, roster, aset, seal):
    blob = seal()
    from accord.core.decision import decide

    d = decide(label(), "KOR", "JPN", AFTER_GSOMIA, agreements=aset)
    alt = alternative_label_xml(label(), "JPN", d.markings["JPN"], datetime(2017, 1, 6, tzinfo=UTC))
    blob2 = c.add_alternative_label_bytes(blob, keys=parties["JPN"], roster=roster, xml=alt)
    opened = c.open_bytes(blob2, keys=parties["JPN"], roster=roster)
    assert opened.label == label()  # the originator's label is untouched
    assert opened.alternative_labels[0].party == "JPN"
    assert d.markings["JPN"].encode() in opened.alternative_labels[0].xml
    m, _ = read_zip(blob2)
    m["alternativeLabels"][0]["signed"]["xml"] = base64.b64encode(alt.replace(b"JPN", b"USA", 1)).decode()
    with pytest.raises(IntegrityError):
        c.open_bytes(
            rebuild(blob2, lambda mm: mm.update(alternativeLabels=m["alternativeLabels"])),
            keys=parties["JPN"],
            roster=roster,
        )
    assert json.dumps(m)


def test_a_holder_re_releases_with_the_originators_consent_and_signs(parties, roster, seal):
    """JK-R6: JPN may pass KOR's item to USA only with KOR's written consent; JPN signs its release."""
    with pytest.raises(ReleaseRefused):
        seal(recipients=["USA"], signer="JPN", holder="JPN")
    blob = seal(recipients=["USA"], signer="JPN", holder="JPN", consents=[consent("KOR-2017-002", "JPN", "USA", 2017)])
    opened = c.open_bytes(blob, keys=parties["USA"], roster=roster)
    assert opened.signer == "JPN"
    assert opened.label.originator == "KOR"
