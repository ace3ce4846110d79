"""Hostile partners (issue 9): each attack tried as a partner would, named after it, and refused.

A partner here is a pinned node with an agreement in force: it passes admission, signs with its own real keys and
tries to make this node believe, store, forward or log what it should not. Each test records its row for
``make reliability`` (tests.support.reliability).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from accord.errors import AccordError, Conflict, InputError, PeerRefused, TrustError
from accord.formats.canonical import canonical_json
from accord.node import db as st
from accord.node.policy import Consent, label_from_dict
from tests.node.helpers import Net, label
from tests.support.reliability import record

GROUP = "hostile peer"

pytestmark = pytest.mark.reliability  # also part of `make reliability` (docs/reliability.md)


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path)


def _forged(
    net: Net, signer: str, lab: dict[str, Any], to: str, day: str, consents: list[Consent] | None = None
) -> bytes:
    """An item sealed and signed by ``signer`` with its real keys, under whatever label it likes."""
    return net.nodes[signer].sealer.seal(
        b"forged" * 8, label_from_dict(lab), to=to, at=dt.date.fromisoformat(day), consents=consents or []
    )


def _envelope(
    item_id: str, sender: str, final: str, day: str, sealed: bytes, consents: list[Any] | None = None
) -> bytes:
    return canonical_json(
        {
            "item_id": item_id,
            "sender": sender,
            "final_recipient": final,
            "at": day,
            "sealed": base64.b64encode(sealed).decode(),
            "consents": consents or [],
        }
    )


def _events(net: Net, party: str, type_: str) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in net.nodes[party].store.rows(st.events) if r["type"] == type_]


def _refused(fn: Any, exc: type[BaseException] | tuple[type[BaseException], ...]) -> BaseException:
    with pytest.raises(exc) as e:
        fn()
    return e.value


# ---------------------------------------------------------------- 1. forged origin


def test_forged_origin_jpn_signed_item_labelled_kor_is_refused_by_kor(net: Net) -> None:
    sealed = _forged(net, "JPN", label("kor-f1", originator="KOR"), "KOR", "2017-02-12")
    e = _refused(
        lambda: net.dispatch("JPN", "delivery", "KOR", _envelope("kor-f1", "JPN", "KOR", "2017-02-12", sealed)),
        PeerRefused,
    )
    assert e.kind == "forged-origin" and e.status == 403  # type: ignore[attr-defined]
    assert "signed by JPN" in str(e) and "originator KOR" in str(e)
    assert net.nodes["KOR"].store.rows(st.items) == []
    assert net.nodes["KOR"].store.rows(st.inbox) == []
    (ev,) = _events(net, "KOR", "forged_origin")
    assert ev["sender"] == "JPN" and ev["signer"] == "JPN" and ev["originator"] == "KOR"
    record(
        "node: hostile peer — forged originator (signer is not the label's originator)",
        group=GROUP,
        attempts=1,
        refused=1,
        lost=0,
        duplicated=0,
    )


def test_forged_origin_jpn_signed_item_labelled_kor_is_refused_by_usa(net: Net) -> None:
    # JPN even forges the consent object the sealer plans with: it signs nothing KOR could have signed.
    fake = Consent(
        id="fake",
        originator="KOR",
        holder="JPN",
        recipient="USA",
        granted=dt.date(2017, 1, 1),
        until=dt.date(2017, 12, 31),
        item="kor-f2",
    )
    sealed = _forged(net, "JPN", label("kor-f2", originator="KOR"), "USA", "2017-02-12", [fake])
    e = _refused(
        lambda: net.dispatch("JPN", "delivery", "USA", _envelope("kor-f2", "JPN", "USA", "2017-02-12", sealed)),
        PeerRefused,
    )
    assert e.kind == "forged-origin"  # type: ignore[attr-defined]
    assert net.nodes["USA"].store.rows(st.items) == []
    assert len(_events(net, "USA", "forged_origin")) == 1
    record(
        "node: hostile peer — forged originator (signer is not the label's originator)",
        group=GROUP,
        attempts=1,
        refused=1,
        lost=0,
        duplicated=0,
    )


def test_forged_origin_never_forwarded_as_originator_release(net: Net) -> None:
    sealed = _forged(net, "JPN", label("kor-f3", originator="KOR"), "KOR", "2017-02-12")
    with pytest.raises(PeerRefused):
        net.dispatch("JPN", "delivery", "KOR", _envelope("kor-f3", "JPN", "USA", "2017-02-12", sealed))
    assert net.nodes["KOR"].store.outbox_rows() == []
    # the genuine path still works: KOR's own item reaches JPN through the hub
    net.submit("KOR", label("kor-g3"), "JPN", "2015-04-12")
    net.pump()
    assert net.nodes["JPN"].item_status("kor-g3")["sender"] == "USA"


def test_forged_origin_holder_release_with_the_originators_signed_consent_is_accepted(net: Net) -> None:
    """A holder's own statement is accepted when it carries the originator's signed consent for this release."""
    net.submit("KOR", label("kor-h4", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    c = Consent(
        id="kor-consent:h4-usa",
        originator="KOR",
        holder="JPN",
        recipient="USA",
        granted=dt.date(2017, 2, 12),
        until=dt.date(2017, 2, 12),
        item="kor-h4",
    )
    doc = net.nodes["KOR"].sign_consent(c)
    sealed = _forged(net, "JPN", label("kor-h4", rel=("JPN", "USA")), "USA", "2017-02-12", [c])
    out = net.dispatch("JPN", "delivery", "USA", _envelope("kor-h4", "JPN", "USA", "2017-02-12", sealed, [doc]))
    assert out["status"] == "stored"
    # the same consent names JPN as holder: USA cannot use it to pass its own statement off
    fake = Consent(
        id="fake",
        originator="KOR",
        holder="USA",
        recipient="JPN",
        granted=dt.date(2017, 2, 12),
        until=dt.date(2017, 2, 12),
        item="kor-h5",
    )
    sealed2 = _forged(net, "USA", label("kor-h5", rel=("JPN", "USA")), "JPN", "2017-02-12", [fake])
    with pytest.raises(PeerRefused, match="signed by USA"):
        net.dispatch("USA", "delivery", "JPN", _envelope("kor-h5", "USA", "JPN", "2017-02-12", sealed2, [doc]))


# ---------------------------------------------------------------- 2. ids


def test_id_collision_partner_item_with_the_id_of_an_own_item_is_refused(net: Net) -> None:
    net.submit("KOR", label("kor-own-1", rel=("JPN",)), "JPN", "2017-02-12", b"genuine" * 8)
    sealed = _forged(net, "JPN", label("kor-own-1", originator="JPN", rel=("KOR",), cls="極秘"), "KOR", "2017-02-12")
    e = _refused(
        lambda: net.dispatch("JPN", "delivery", "KOR", _envelope("kor-own-1", "JPN", "KOR", "2017-02-12", sealed)),
        (Conflict, PeerRefused),
    )
    assert "kor-own-1" in str(e)
    (row,) = net.nodes["KOR"].store.rows(st.items)
    assert row["origin"] == "local" and row["originator"] == "KOR"
    assert net.nodes["KOR"].store.rows(st.inbox) == []  # never receipted "stored"
    assert _events(net, "KOR", "id_refused")
    record("node: hostile peer — id collision / squatting", group=GROUP, attempts=1, refused=1, lost=0, duplicated=0)


def test_id_squatting_partner_claiming_an_own_namespace_id_first_cannot_block_a_later_submit(net: Net) -> None:
    sealed = _forged(net, "JPN", label("kor-2017-7", originator="JPN", rel=("KOR",), cls="極秘"), "KOR", "2017-02-12")
    with pytest.raises(PeerRefused, match="namespace"):
        net.dispatch("JPN", "delivery", "KOR", _envelope("kor-2017-7", "JPN", "KOR", "2017-02-12", sealed))
    out = net.submit("KOR", label("kor-2017-7", rel=("JPN",)), "JPN", "2017-02-12")  # not 409
    assert out.status == "queued"
    record("node: hostile peer — id collision / squatting", group=GROUP, attempts=1, refused=1, lost=0, duplicated=0)


def test_id_squatting_own_submit_in_another_partys_namespace_is_refused(net: Net) -> None:
    with pytest.raises(InputError, match="namespace"):
        net.submit("KOR", label("jpn-1", rel=("JPN",)), "JPN", "2017-02-12")


def test_id_squatting_partner_cannot_take_the_hubs_consent_request_id(net: Net) -> None:
    net.submit("KOR", label("kor-5", topics=("DPRK-NUCLEAR",)), "USA", "2015-06-20")
    net.pump()
    lab = net.nodes["USA"].item_status("kor-5")["label"]
    squat = {
        "request_id": "usa-cr:kor-5:JPN",
        "item_id": "kor-5",
        "originator": "KOR",
        "holder": "JPN",
        "recipient": "JPN",
        "label": lab,
        "digest": "0" * 64,
        "at": "2015-06-21",
    }
    with pytest.raises((PeerRefused, InputError)):
        net.dispatch("JPN", "consent_request", "KOR", canonical_json(squat))
    assert net.nodes["KOR"].consent_requests() == []
    assert net.nodes["USA"].forward("kor-5", "JPN", "2015-06-22").status == "held"
    net.pump()
    (req,) = net.nodes["KOR"].consent_requests("pending")
    assert (req["request_id"], req["holder"]) == ("usa-cr:kor-5:JPN", "USA")
    record("node: hostile peer — id collision / squatting", group=GROUP, attempts=1, refused=1, lost=0, duplicated=0)


def test_id_squatting_partner_sending_a_bare_id_first_takes_nothing(net: Net) -> None:
    """ACC-R10: JPN sends an item under the unqualified id ``k9`` first. Refused (no one may create an id outside
    its namespace), nothing stored; KOR's own submit of ``k9`` is refused for the same reason, with one clear line,
    and KOR's qualified ``kor-9`` goes through."""
    from accord.core.ids import NamespaceError

    sealed = _forged(net, "JPN", label("k9", originator="JPN", rel=("KOR",), cls="極秘"), "KOR", "2017-02-12")
    e = _refused(
        lambda: net.dispatch("JPN", "delivery", "KOR", _envelope("k9", "JPN", "KOR", "2017-02-12", sealed)), PeerRefused
    )
    assert e.kind == "id-refused" and e.status == 403  # type: ignore[attr-defined]
    assert e.extensions()["rule"] == "ACC-R10"  # type: ignore[attr-defined]
    assert "'k9' is not qualified" in str(e) and "jpn-" in str(e)
    kor = net.nodes["KOR"]
    assert kor.store.rows(st.items) == [] and kor.store.rows(st.inbox) == []
    (ev,) = _events(net, "KOR", "id_refused")
    assert ev["sender"] == "JPN" and ev["rule"] == "ACC-R10"
    e2 = _refused(lambda: net.submit("KOR", label("k9", rel=("JPN",)), "JPN", "2017-02-12"), NamespaceError)
    assert e2.status == 400 and e2.kind == "id-namespace"  # type: ignore[attr-defined]
    assert e2.extensions() == {"field": "label.id", "rule": "ACC-R10", "namespace": "KOR"}  # type: ignore[attr-defined]
    assert str(e2).startswith("label.id: item id 'k9' is not qualified") and "\n" not in str(e2)
    assert kor.store.rows(st.items) == [] and kor.store.outbox_rows() == []  # nothing changed
    assert net.submit("KOR", label("kor-9", rel=("JPN",)), "JPN", "2017-02-12").status == "queued"
    record("node: hostile peer — id collision / squatting", group=GROUP, attempts=2, refused=2, lost=0, duplicated=0)


def test_id_squatting_partner_claiming_a_bare_consent_request_id_is_refused(net: Net) -> None:
    """ACC-R10: a consent request's id lies in its holder's namespace; a bare one is refused, never shown."""
    body = _held_at_usa(net, "kor-c9")
    assert body["request_id"] == "usa-cr:kor-c9:JPN"
    body["request_id"] = "cr:kor-c9:USA-JPN"  # the unqualified form
    e = _refused(lambda: net.dispatch("USA", "consent_request", "KOR", canonical_json(body)), PeerRefused)
    assert e.kind == "id-refused" and "consent request id" in str(e) and "usa-" in str(e)  # type: ignore[attr-defined]
    assert net.nodes["KOR"].consent_requests() == []
    assert _events(net, "KOR", "consent_request_refused")
    record("node: hostile peer — id collision / squatting", group=GROUP, attempts=1, refused=1, lost=0, duplicated=0)


@pytest.mark.parametrize("squat", ["standing-1", "usa-standing:JPN-KOR"], ids=["bare", "usas-namespace"])
def test_id_squatting_partner_consent_with_an_id_outside_its_namespace_is_refused(net: Net, squat: str) -> None:
    """ACC-R10: JPN signs a standing consent under a bare id, or under an id of USA's, so that USA's genuine
    consent with that id would be dropped as a duplicate: refused, nothing stored."""
    c = Consent(
        id=squat,
        originator="JPN",
        holder="KOR",
        recipient="USA",
        granted=dt.date(2017, 1, 1),
        until=dt.date(2017, 12, 31),
        topics=frozenset({"DPRK-MISSILE"}),
        standing=True,
    )
    doc = net.nodes["JPN"].sign_consent(c)
    msg = {"consent": doc, "officer": "jpn-officer", "at": "2017-02-12"}
    e = _refused(lambda: net.dispatch("JPN", "consent", "KOR", canonical_json(msg)), PeerRefused)
    assert "consent id" in str(e) and e.extensions()["rule"] == "ACC-R10"  # type: ignore[attr-defined]
    assert net.nodes["KOR"].store.rows(st.consents) == []
    record("node: hostile peer — id collision / squatting", group=GROUP, attempts=1, refused=1, lost=0, duplicated=0)


def test_id_squatting_bare_id_is_refused_at_the_cli_and_the_api(net: Net, tmp_path: Path) -> None:
    """One line ``error: WHERE: WHAT`` and exit 2 at the CLI; a 400 problem document naming ACC-R10 at the API."""
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from accord.cli import get_app
    from accord.node.app import create_app
    from accord.node.identity import cert_fingerprint

    lab = tmp_path / "label.json"
    lab.write_text(json.dumps(label("k9", rel=("JPN",))))
    data = tmp_path / "item.bin"
    data.write_bytes(b"x" * 32)
    kor_dir = str(net.cfgs["KOR"].dir)
    args = ["node", "submit", "--dir", kor_dir, "--label", str(lab), "--to", "JPN", "--in", str(data)]
    r = CliRunner().invoke(get_app(), [*args, "--at", "2017-02-12"])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: label.id: item id 'k9' is not qualified"), r.stderr
    assert "ACC-R10" in lines[0] and "kor-" in lines[0]
    app = create_app(net.nodes["KOR"], workers=0)
    own = cert_fingerprint(net.cfgs["KOR"].cert_file.read_bytes())

    async def with_cert(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": own}
        await app(scope, receive, send)

    client = TestClient(with_cert, base_url="https://testserver")  # type: ignore[arg-type]
    body = {"label": label("k9", rel=("JPN",)), "payload_b64": "eHh4", "to": "JPN", "at": "2017-02-12"}
    resp = client.post("/v1/items", json=body)
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("application/problem+json")
    doc = resp.json()
    assert doc["type"].endswith("id-namespace") and doc["rule"] == "ACC-R10" and doc["field"] == "label.id"
    assert "namespace" in doc["detail"] or "qualified" in doc["detail"]
    assert net.nodes["KOR"].store.rows(st.items) == []


@pytest.mark.parametrize("bad", ["", "a" * 129, "bad id", "nul\x00", "k/1", "ｋ1", "-lead"])
def test_id_grammar_at_the_peer_boundary(net: Net, bad: str) -> None:
    sealed = _forged(net, "JPN", label("jpn-1", originator="JPN", rel=("KOR",), cls="極秘"), "KOR", "2017-02-12")
    with pytest.raises(InputError):
        net.dispatch("JPN", "delivery", "KOR", _envelope(bad, "JPN", "KOR", "2017-02-12", sealed))
    req = {
        "request_id": bad,
        "item_id": "kor-1",
        "originator": "KOR",
        "holder": "JPN",
        "recipient": "USA",
        "label": label("kor-1"),
        "digest": "0" * 64,
        "at": "2017-02-12",
    }
    with pytest.raises((InputError, PeerRefused)):
        net.dispatch("JPN", "consent_request", "KOR", canonical_json(req))
    with pytest.raises(InputError):
        net.dispatch(
            "KOR", "consent_decision", "JPN", canonical_json({"request_id": bad, "approved": False, "at": "2017-02-12"})
        )
    assert net.nodes["KOR"].store.rows(st.items) == []
    record("node: hostile peer — id collision / squatting", group=GROUP, attempts=3, refused=3, lost=0, duplicated=0)


@pytest.mark.parametrize("bad", ["USA\n", "usa", "uſa", "US", "ＵＳＡ", 7])
def test_party_codes_at_the_peer_boundary_are_strict(net: Net, bad: object) -> None:
    from accord.node.config import check_party

    with pytest.raises(InputError):
        check_party(bad, source="delivery", field="final_recipient")


# ---------------------------------------------------------------- 3. consent requests


def _held_at_usa(net: Net, item: str) -> dict[str, Any]:
    net.submit("KOR", label(item, topics=("DPRK-NUCLEAR",)), "USA", "2015-06-20")
    net.pump()
    assert net.nodes["USA"].forward(item, "JPN", "2015-06-22").status == "held"
    (entry,) = [e for e in net.nodes["USA"].store.claim("w", limit=10, lease_seconds=30) if e.kind == "consent_request"]
    body: dict[str, Any] = json.loads(entry.body)
    return body


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda b: b["label"].update(classification="군사Ⅲ급비밀"), id="downgraded-label"),
        pytest.param(lambda b: b["label"].update(topics=["DPRK-MISSILE"]), id="other-topics"),
        pytest.param(lambda b: b.update(statement="0" * 96), id="other-statement"),
        pytest.param(lambda b: b.pop("statement"), id="no-statement"),
        pytest.param(
            lambda b: (
                b.update(item_id="kor-none", request_id="usa-cr:kor-none:JPN") or b["label"].update(id="kor-none")
            ),
            id="item-not-held",
        ),
    ],
)
def test_consent_request_with_a_forged_label_is_refused_and_never_shown(net: Net, forge: Any) -> None:
    body = _held_at_usa(net, "kor-c1")
    forge(body)
    with pytest.raises(AccordError):
        net.dispatch("USA", "consent_request", "KOR", canonical_json(body))
    assert net.nodes["KOR"].consent_requests() == []  # never shown to an officer
    assert _events(net, "KOR", "consent_request_refused")
    record(
        "node: hostile peer — consent request with a forged label",
        group=GROUP,
        attempts=1,
        refused=1,
        lost=0,
        duplicated=0,
    )


def test_consent_request_matching_the_held_item_is_shown(net: Net) -> None:
    body = _held_at_usa(net, "kor-c2")
    assert net.dispatch("USA", "consent_request", "KOR", canonical_json(body))["state"] == "pending"
    assert [r["item_id"] for r in net.nodes["KOR"].consent_requests("pending")] == ["kor-c2"]


# ---------------------------------------------------------------- 4. retired keys


def _rotate(node_dir: Path, party: str) -> None:
    from accord.sealed.keys import PartyKeys, Roster

    keys = PartyKeys.load(node_dir / "keys")
    new = keys.rotate()
    r = Roster.load(node_dir / "trust")
    r.rotate(new)
    new.save(node_dir / "keys")
    r.save(node_dir / "trust")


def test_retired_signing_key_new_item_signed_with_the_old_key_is_refused(net: Net, tmp_path: Path) -> None:
    from accord.node.sealing import SealedFormat, own_entry, pin_entry
    from accord.sealed.keys import PartyKeys

    jpn_dir = net.cfgs["JPN"].dir
    old_keys = PartyKeys.load(jpn_dir / "keys")
    # an old item, signed before the rotation, still verifies afterwards
    import time

    before = _forged(net, "JPN", label("jpn-old", originator="JPN", rel=("KOR",), cls="極秘"), "KOR", "2017-02-12")
    time.sleep(1.1)  # statement and retirement times have one-second resolution
    _rotate(jpn_dir, "JPN")
    pin_entry(net.cfgs["KOR"].dir, own_entry(jpn_dir, "JPN"), source="test")  # KOR accepts JPN v2
    kor = net.nodes["KOR"]
    kor.sealer = SealedFormat(net.cfgs["KOR"].dir / "keys", net.cfgs["KOR"].dir / "trust", kor.agreements)
    assert kor.sealer.roster.latest("JPN").version == 2
    out = net.dispatch("JPN", "delivery", "KOR", _envelope("jpn-old", "JPN", "KOR", "2017-02-12", before))
    assert out["status"] == "stored"
    # a NEW item signed with the retired key (someone kept or stole it)
    time.sleep(1.1)
    stale = SealedFormat.__new__(SealedFormat)
    stale.keys, stale.roster, stale.agreements = old_keys, net.nodes["JPN"].sealer.roster, kor.agreements  # type: ignore[attr-defined]
    after = stale.seal(
        b"x" * 32,
        label_from_dict(label("jpn-new", originator="JPN", rel=("KOR",), cls="極秘")),
        to="KOR",
        at=dt.date(2017, 2, 12),
    )
    with pytest.raises(AccordError):
        net.dispatch("JPN", "delivery", "KOR", _envelope("jpn-new", "JPN", "KOR", "2017-02-12", after))
    assert [r["item_id"] for r in kor.store.rows(st.items)] == ["jpn-old"]
    record("node: hostile peer — retired signing key", group=GROUP, attempts=1, refused=1, lost=0, duplicated=0)


def test_retired_key_roster_records_the_retirement_time(tmp_path: Path) -> None:
    from accord.sealed.keys import PartyKeys, Roster

    keys = PartyKeys.generate("KOR")
    r = Roster()
    r.pin(Roster.first_entry(keys))
    old = keys.current.sign_key_id
    new = keys.rotate()
    entry = r.rotate(new)
    rec = entry.key(old)
    assert rec is not None and rec.status == "retired" and rec.retired == new.current.created
    assert r.signing_key("KOR", old, at=new.current.created) == rec  # the second of the rotation: still before
    later = dt.datetime.fromisoformat(new.current.created.replace("Z", "+00:00")) + dt.timedelta(seconds=1)
    with pytest.raises(TrustError, match="retired"):
        r.signing_key("KOR", old, at=later.isoformat().replace("+00:00", "Z"))
    assert r.signing_key("KOR", old, at="2000-01-01T00:00:00Z") == rec


# ---------------------------------------------------------------- 5. audit stall


def test_audit_stall_receipt_with_an_extra_payload_key_is_quarantined_and_the_log_goes_on(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from accord.node.audit import AuditFeeder

    net.submit("KOR", label("kor-a1", rel=("JPN",)), "JPN", "2017-02-12")
    kor = net.nodes["KOR"]
    # A receipt event the audit format refuses reaches the journal (e.g. written by an older node version,
    # or a check that lets one through): the writer must quarantine it, not retry it forever.
    with kor.store.tx() as conn:
        bad = [
            kor._event(conn, "receipt", "kor-a1", {"receipt": {"item_id": "kor-a1", "payload": "x"}, "signature": "s"}),
            kor._event(conn, "delivery", "b" * 200, {"sender": "JPN", "digest": "0" * 64}),
        ]
    with caplog.at_level(logging.ERROR, logger="accord.node.audit"):
        kor.flush_audit()
    assert "quarantined" in caplog.text
    net.pump()  # later events still reach the log
    rows = kor.store.rows(st.events)
    assert all(r["audit_idx"] is not None for r in rows)
    assert kor.audit_health()["quarantined"] == 2
    q = [json.loads(kor.feeder.log.event(i)) for i in range(kor.feeder.log.size)]  # type: ignore[union-attr]
    assert sorted(e["quarantined_journal"] for e in q if e.get("node_event") == "audit_quarantine") == bad
    assert all(e["type"] == "quarantine" for e in q if e.get("node_event") == "audit_quarantine")
    # a restart does not re-stall
    feeder = AuditFeeder(kor.store, net.cfgs["KOR"].dir, "KOR")
    assert feeder.flush() == 0
    # the alarm is visible to the operator: `accord node status` (and /v1/health for the node's own systems)
    from typer.testing import CliRunner

    from accord.cli import get_app

    r = CliRunner().invoke(get_app(), ["node", "status", "--dir", str(net.cfgs["KOR"].dir)])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["audit"]["quarantined"] == 2
    record(
        "node: hostile peer — receipt with an extra key (audit stall)",
        group=GROUP,
        attempts=2,
        refused=2,
        lost=0,
        duplicated=0,
    )


def test_audit_stall_receipt_with_an_extra_key_is_refused_at_the_receipt(net: Net) -> None:
    from accord.errors import IntegrityError
    from accord.node.canon import sign
    from accord.node.flow.journal import RECEIPT_DOMAIN

    net.submit("KOR", label("kor-a2", rel=("JPN",)), "JPN", "2017-02-12")
    (entry,) = net.nodes["KOR"].store.claim("w", limit=10, lease_seconds=0.01)
    answer = net.dispatch("KOR", "delivery", "JPN", entry.body, entry.idem_key)
    answer["receipt"]["payload"] = "plaintext?"
    answer["signature"] = sign(net.nodes["JPN"].receipt_key, RECEIPT_DOMAIN, answer["receipt"])  # validly signed
    answer.pop("evidence", None)
    with pytest.raises(IntegrityError):
        net.nodes["KOR"].acknowledged(entry, answer)
    assert net.nodes["KOR"].store.rows(st.receipts) == []


def test_audit_verify_compares_the_log_with_the_journal(net: Net) -> None:
    from typer.testing import CliRunner

    from accord.cli import get_app

    net.submit("KOR", label("kor-a3", rel=("JPN",)), "JPN", "2017-02-12")
    net.pump()
    d = net.cfgs["KOR"].dir
    db = str(d / "node.db")
    vkey = str(d / "audit.vkey")
    runner = CliRunner()
    r = runner.invoke(get_app(), ["audit", "verify", db, "--vkey", vkey])
    assert r.exit_code == 0, r.stderr
    assert "journal: every event in the log" in r.stdout
    kor = net.nodes["KOR"]
    with kor.store.tx() as conn:
        kor._event(conn, "receipt", "kor-a3", {"receipt": {"payload": "x"}})
    kor.flush_audit()
    r = runner.invoke(get_app(), ["audit", "verify", db, "--vkey", vkey])
    assert r.exit_code == 0 and "1 quarantined" in r.stdout
    # an event journaled but never appended (a stalled writer): missing, exit 1
    from accord.node.db.events_sql import insert_event

    with kor.store.tx() as conn:
        insert_event(
            conn,
            {"type": "decision", "item_id": "kor-a3", "body": "{}", "created_at": st.now() - dt.timedelta(hours=1)},
        )
    r = runner.invoke(get_app(), ["audit", "verify", db, "--vkey", vkey])
    assert r.exit_code == 1 and "missing" in r.stdout + r.stderr


# ---------------------------------------------------------------- 6. add-peer


def test_add_peer_relabelled_entry_party_usa_is_refused(tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from accord.cli import get_app
    from accord.node.cluster import init_node
    from accord.node.config import Peer, self_entry

    kor = init_node(tmp_path / "kor", "KOR", port=1)
    jpn = init_node(tmp_path / "jpn", "JPN", port=2)
    entry = self_entry(jpn)
    fp = Peer.from_dict(entry, source="t").entry_fingerprint
    runner = CliRunner()
    relabelled = tmp_path / "usa.yaml"
    relabelled.write_text(yaml.safe_dump({**entry, "party": "USA"}))
    r = runner.invoke(
        get_app(),
        [
            "node",
            "add-peer",
            "--dir",
            str(kor.dir),
            "--entry",
            str(relabelled),
            "--fingerprint",
            Peer.from_dict({**entry, "party": "USA"}, source="t").entry_fingerprint,
        ],
    )
    assert r.exit_code == 2 and "USA" in r.stderr and r.stderr.startswith("error:")
    good = tmp_path / "jpn.yaml"
    good.write_text(yaml.safe_dump(entry))
    r = runner.invoke(get_app(), ["node", "add-peer", "--dir", str(kor.dir), "--entry", str(good)])
    assert r.exit_code == 2 and "--fingerprint" in r.stderr  # out-of-band fingerprint required
    r = runner.invoke(
        get_app(), ["node", "add-peer", "--dir", str(kor.dir), "--entry", str(good), "--fingerprint", "0" * 64]
    )
    assert r.exit_code == 2 and "fingerprint" in r.stderr
    assert "JPN" not in (kor.dir / "roster.yaml").read_text() if (kor.dir / "roster.yaml").exists() else True
    r = runner.invoke(get_app(), ["node", "add-peer", "--dir", str(kor.dir), "--entry", str(good), "--fingerprint", fp])
    assert r.exit_code == 0, r.stderr
    record("node: hostile peer — add-peer with a relabelled entry", group=GROUP, attempts=2, refused=2)


def test_id_grammar_longest_item_id_survives_consent_and_relay_ids(net: Net) -> None:
    """The ids a node composes from an item id (consent request, consent, originator request) stay within the
    grammar for the longest item id: a 128-character id is relayed through the hub and consented to."""
    long_id = "kor-" + "x" * 124
    assert len(long_id) == 128
    net.submit("KOR", label(long_id), "JPN", "2015-04-12")  # through the hub: an originator-request consent
    net.pump()
    assert net.nodes["JPN"].item_status(long_id)["sender"] == "USA"
    other = "kor-" + "y" * 124
    net.submit("KOR", label(other, topics=("DPRK-NUCLEAR",)), "USA", "2015-06-20")
    net.pump()
    assert net.nodes["USA"].forward(other, "JPN", "2015-06-22").status == "held"
    net.pump()
    (req,) = net.nodes["KOR"].consent_requests("pending")
    assert len(req["request_id"]) <= 128 and req["request_id"].startswith("usa-cr:")
    net.nodes["KOR"].decide_consent(req["request_id"], True, "officer Kim")
    net.pump()
    assert net.nodes["JPN"].item_status(other)["sender"] == "USA"
