"""Issue 10: a derived item (reproduction, translation, extract) released over the network (JK-R5, JK-R6,
JK-R23, JK-R24). The holder seals it under the derived label and signs it; the recipient accepts a holder-signed
item only when its lineage names sources the signer lawfully holds (node/flow/derived_check.py)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from accord.errors import InputError, PeerRefused
from accord.formats.canonical import canonical_json
from accord.node import db as st
from accord.node.errors import NotFound, Refused
from accord.node.policy import Consent, label_from_dict
from tests.node.helpers import Net, label

TRANSLATION = "翻訳: 北朝鮮ミサイル".encode()


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path)


def held(net: Net, item: str = "kor-dn-1") -> None:
    """KOR releases ``item`` to JPN (GSOMIA, 2017); JPN translates it (jpn-tr-1) and reports it to KOR."""
    net.submit("KOR", label(item, rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    net.nodes["JPN"].derive_item([item], "translation", "jpn-tr-1", language="ja", at="2017-02-20")
    net.pump()


def events(net: Net, party: str, type_: str) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in net.nodes[party].store.rows(st.events, st.events.c.type == type_)]


def envelope(item_id: str, sender: str, final: str, sealed: bytes, lineage: list[str], consents: Any = ()) -> bytes:
    return canonical_json(
        {
            "item_id": item_id,
            "sender": sender,
            "final_recipient": final,
            "at": "2017-02-21",
            "sealed": base64.b64encode(sealed).decode(),
            "consents": list(consents),
            "lineage": lineage,
        }
    )


def forged(net: Net, item: str, to: str) -> bytes:
    """An item JPN seals and signs with its real keys under a KOR label of its choosing (its own sealer is
    told KOR consented: nothing KOR signed)."""
    lab = label_from_dict(label(item, rel=("JPN", "USA")))
    fake = Consent("fake", "KOR", "JPN", to, dt.date(2017, 1, 1), dt.date(2017, 12, 31), item=item)
    return net.nodes["JPN"].sealer.seal(b"made up" * 8, lab, to=to, at=dt.date(2017, 2, 21), consents=[fake])


def test_derived_item_returned_to_its_originator_is_stored_with_lineage_and_copies_JK_R5_R23(net: Net) -> None:
    held(net)
    jpn, kor = net.nodes["JPN"], net.nodes["KOR"]
    jpn.derive_item(["kor-dn-1"], "reproduction", "jpn-cp-1", at="2017-02-20")  # a copy (JK-R23)
    out = jpn.release_derived("jpn-tr-1", TRANSLATION, "KOR", "2017-02-21")
    assert out["lineage"] == ["kor-dn-1"] and out["decision"]["allowed"]
    assert jpn.custody_record("jpn-tr-1")["state"] == "RELEASED"
    net.pump()
    assert not net.refusals
    (row,) = kor.store.rows(st.items, st.items.c.item_id == "jpn-tr-1")
    assert (row["originator"], row["origin"], row["sender"]) == ("KOR", "received", "JPN")
    lab = json.loads(row["label_json"])
    assert lab["originator"] == "KOR" and lab["classification"] == "군사Ⅱ급비밀"  # JK-R24: markings kept
    assert kor.sealer.open(bytes(row["sealed"])).payload == TRANSLATION  # the holder's content, signed by JPN
    assert kor.sealer.open(bytes(row["sealed"])).signer == "JPN"
    seen = kor.derived_lineage("jpn-tr-1")
    assert seen == {"holder": "JPN", "lineage": ["kor-dn-1"], "copies": {"kor-dn-1": 1}}
    with pytest.raises(NotFound):
        kor.derived_lineage("jpn-cp-1")  # made, never returned


def test_derived_item_to_a_third_party_without_consent_is_refused_citing_JK_R6(net: Net) -> None:
    held(net)
    jpn = net.nodes["JPN"]
    with pytest.raises(Refused) as e:
        jpn.release_derived("jpn-tr-1", TRANSLATION, "USA", "2017-02-21")
    reason = e.value.extensions()["decision"]["reasons"][0]
    assert reason["rule"] == "JK-R6" and reason["agreement"] == "jpn-kor-gsomia"
    sent = jpn.store.rows(st.outbox, (st.outbox.c.item_id == "jpn-tr-1") & (st.outbox.c.kind == "delivery"))
    assert sent == []  # nothing left this node (only the derived report to KOR)
    assert jpn.custody_record("jpn-tr-1")["state"] == "HELD"


def test_derived_item_goes_to_a_third_party_with_the_originators_consent_JK_R6(net: Net) -> None:
    held(net)
    jpn, kor, usa = net.nodes["JPN"], net.nodes["KOR"], net.nodes["USA"]
    kor.grant_standing("JPN", "USA", ["DPRK-MISSILE"], dt.date(2017, 2, 1), dt.date(2017, 12, 31), "officer kim")
    net.pump()
    jpn.release_derived("jpn-tr-1", TRANSLATION, "USA", "2017-02-21")
    net.pump()
    assert not net.refusals
    rec = usa.custody_record("jpn-tr-1")
    assert (rec["originator"], rec["received_from"], rec["sources"]) == ("KOR", "JPN", ["kor-dn-1"])
    assert rec["agreement"] == "jpn-usa-gsomia"  # held by USA under the agreement of the hop that brought it


def test_derived_item_with_lineage_to_an_item_never_received_is_refused_as_forged_origin(net: Net) -> None:
    held(net)
    kor = net.nodes["KOR"]
    # a real KOR item, but released to USA only: JPN never held it
    net.submit("KOR", label("kor-dn-9", rel=("JPN", "USA")), "USA", "2017-02-12")
    net.pump()
    for source in ("kor-never", "kor-dn-9"):
        sealed = forged(net, "jpn-fake-1", "KOR")
        with pytest.raises(PeerRefused) as e:
            net.dispatch("JPN", "delivery", "KOR", envelope("jpn-fake-1", "JPN", "KOR", sealed, [source]))
        assert e.value.kind == "forged-origin" and f"never released {source} to JPN" in str(e.value)
    assert kor.store.rows(st.items, st.items.c.item_id == "jpn-fake-1") == []
    assert kor.store.rows(st.inbox, st.inbox.c.item_id == "jpn-fake-1") == []


def test_derived_item_in_the_originators_namespace_is_refused_as_forged_origin(net: Net) -> None:
    held(net)
    sealed = forged(net, "kor-dn-2", "KOR")  # a "derived" item squatting on the originator's own ids
    with pytest.raises(PeerRefused) as e:
        net.dispatch("JPN", "delivery", "KOR", envelope("kor-dn-2", "JPN", "KOR", sealed, ["kor-dn-1"]))
    assert e.value.kind == "forged-origin" and "namespace" in str(e.value)


def test_derived_item_sent_to_a_third_party_without_consent_is_refused_by_the_recipient(net: Net) -> None:
    """A hostile holder that skips its own gate: the third party finds no consent of the originator."""
    held(net)
    sealed = forged(net, "jpn-tr-1", "USA")
    with pytest.raises(PeerRefused) as e:
        net.dispatch("JPN", "delivery", "USA", envelope("jpn-tr-1", "JPN", "USA", sealed, ["kor-dn-1"]))
    assert e.value.kind == "forged-origin" and "JK-R6" in str(e.value)
    assert net.nodes["USA"].store.rows(st.items) == []


def test_malformed_lineage_is_refused(net: Net) -> None:
    held(net)
    sealed = forged(net, "jpn-tr-1", "KOR")
    for bad in ([], ["kor-dn-1", "kor-dn-1"], [""]):
        with pytest.raises(InputError):
            net.dispatch("JPN", "delivery", "KOR", envelope("jpn-tr-1", "JPN", "KOR", sealed, bad))


def test_release_of_an_item_not_derived_here_is_refused(net: Net) -> None:
    held(net)
    jpn = net.nodes["JPN"]
    with pytest.raises(NotFound):
        jpn.release_derived("kor-dn-1", TRANSLATION, "KOR", "2017-02-21")  # received, not derived
    with pytest.raises(InputError):
        jpn.release_derived("jpn-tr-1", b"", "KOR", "2017-02-21")


def _client(net: Net, party: str) -> Any:
    from fastapi.testclient import TestClient

    from accord.node.app import create_app
    from accord.node.identity import cert_fingerprint

    app = create_app(net.nodes[party], workers=0)
    own = cert_fingerprint(net.cfgs[party].cert_file.read_bytes())

    async def with_cert(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": own}  # the operator, on loopback
        await app(scope, receive, send)

    return TestClient(with_cert, base_url="https://testserver")  # type: ignore[arg-type]


def test_api_derives_seals_and_releases_a_translation_end_to_end(net: Net) -> None:
    net.submit("KOR", label("kor-api-1", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    client = _client(net, "JPN")
    content = base64.b64encode(TRANSLATION).decode()
    base = {"kind": "translation", "language": "ja", "at": "2017-02-20"}
    r = client.post("/v1/items/kor-api-1/derive", json={**base, "new_id": "jpn-api-tr", "to": "KOR"})
    assert r.status_code == 400 and "together" in r.text  # content and recipient go together
    r = client.post(
        "/v1/items/kor-api-1/derive", json={**base, "new_id": "jpn-api-tr", "content_b64": content, "to": "KOR"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["item"] == "jpn-api-tr" and body["release"]["lineage"] == ["kor-api-1"]
    r = client.post(
        "/v1/items/jpn-api-tr/release-derived", json={"content_b64": content, "to": "USA", "at": "2017-02-21"}
    )
    assert r.status_code == 403 and "JK-R6" in r.text  # the third party: the originator's consent lacks
    r = client.post("/v1/items/jpn-api-tr/release-derived", json={"content_b64": "not base64!", "to": "KOR"})
    assert r.status_code in (400, 422)
    net.pump()
    assert not net.refusals
    assert net.nodes["KOR"].derived_lineage("jpn-api-tr")["lineage"] == ["kor-api-1"]


def test_cli_derives_and_releases_a_file_with_one_line_errors(net: Net, tmp_path: Path) -> None:
    from tests.support.cli import run

    net.submit("KOR", label("kor-cli-9", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    jpn = str(net.cfgs["JPN"].dir)
    f = tmp_path / "translation.txt"
    f.write_bytes(TRANSLATION)
    args = ("node", "custody", "derive", "--dir", jpn, "--source", "kor-cli-9", "--kind", "translation")
    code, out, err = run(*args, "--id", "jpn-cli-tr", "--content", str(f), "--to", "KOR", "--at", "2017-02-20")
    assert code == 0, err
    assert json.loads(out)["release"]["lineage"] == ["kor-cli-9"]
    code, _, err = run(*args, "--id", "jpn-cli-tr2", "--content", str(f))  # no recipient
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    rel = ("node", "custody", "release-derived", "--dir", jpn, "--item", "jpn-cli-tr", "--at", "2017-02-21")
    code, _, err = run(*rel, "--content", str(tmp_path / "missing"), "--to", "KOR")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    code, _, err = run(*rel, "--content", str(f), "--to", "USA")
    assert code == 1 and "JK-R6" in err  # refused, the rule cited
    net.pump()
    assert net.nodes["KOR"].derived_lineage("jpn-cli-tr")["lineage"] == ["kor-cli-9"]


def test_derived_item_whose_lineage_differs_from_the_holders_signed_report_is_refused(net: Net) -> None:
    """jpn-tr-1 was reported to KOR as a translation of kor-dn-1; sent back claiming kor-dn-3 (also JPN's)."""
    held(net)
    net.submit("KOR", label("kor-dn-3", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    sealed = forged(net, "jpn-tr-1", "KOR")
    with pytest.raises(PeerRefused) as e:
        net.dispatch("JPN", "delivery", "KOR", envelope("jpn-tr-1", "JPN", "KOR", sealed, ["kor-dn-3"]))
    assert e.value.kind == "forged-origin" and "signed derived report" in str(e.value)


def test_holder_names_a_released_derived_item_in_its_own_namespace(net: Net) -> None:
    net.submit("KOR", label("kor-dn-4", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    jpn = net.nodes["JPN"]
    jpn.derive_item(["kor-dn-4"], "reproduction", "copy-4", at="2017-02-20")  # an unqualified id
    with pytest.raises(InputError) as e:
        jpn.release_derived("copy-4", TRANSLATION, "KOR", "2017-02-21")
    assert "namespace" in str(e.value)
    made = jpn.derive_item(["kor-dn-4"], "reproduction", at="2017-02-20")  # the default id is JPN's own
    assert made["item"].startswith("jpn-")
    jpn.release_derived(made["item"], TRANSLATION, "KOR", "2017-02-21")
    net.pump()
    assert not net.refusals
