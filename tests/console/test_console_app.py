"""The console over TestClient: sign-in, sessions, CSRF, roles on every page and API call, reads, consents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from accord.console.app import PAGES, create_console
from accord.core.people import Role
from tests.console.conftest import csrf_of, sign_in
from tests.console.world import MISSILE, PASSWORD, World, member

GET_PAGES = {
    "items": "/items",
    "consents": "/consents",
    "agreements": "/agreements",
    "matrix": "/matrix",
    "audit": "/audit",
    "people": "/people",
    "feed": "/feed",
}


def test_pages_need_a_session(jpn_client: TestClient) -> None:
    for path in [*GET_PAGES.values(), "/items/kor-missile", "/audit/verify", "/audit/export"]:
        r = jpn_client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("/login"), path
    assert jpn_client.get("/api/items").status_code == 401
    assert jpn_client.post("/api/items/kor-missile/read", json={"purpose": "x"}).status_code == 401


def test_wrong_password_unknown_user_and_disabled_account_are_refused(world: World, jpn_client: TestClient) -> None:
    for user, pw in (("jpn-analyst", "wrong password!!"), ("nobody", PASSWORD), ("", "")):
        token = csrf_of(jpn_client.get("/login").text)
        r = jpn_client.post("/login", data={"username": user, "password": pw, "csrf": token}, follow_redirects=False)
        assert r.status_code == 401 and "accord_session" not in r.cookies
    world.jpn.register.disable("jpn-lowly", by="test")
    token = csrf_of(jpn_client.get("/login").text)
    r = jpn_client.post("/login", data={"username": "jpn-lowly", "password": PASSWORD, "csrf": token})
    assert r.status_code == 401
    refused = [e for e in world.jpn.events(type_="person") if e["body"]["action"] == "sign-in-refused"]
    assert len(refused) == 4  # sign-in failures are audit events


def test_login_form_needs_its_csrf_cookie_login_csrf(jpn_client: TestClient) -> None:
    r = jpn_client.post("/login", data={"username": "jpn-analyst", "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 403


def test_session_cookie_is_httponly_secure_samesite_strict(jpn_client: TestClient) -> None:
    token = csrf_of(jpn_client.get("/login").text)
    r = jpn_client.post(
        "/login", data={"username": "jpn-analyst", "password": PASSWORD, "csrf": token}, follow_redirects=False
    )
    cookie = r.headers["set-cookie"]
    assert "accord_session=" in cookie
    for attr in ("HttpOnly", "Secure", "SameSite=strict"):
        assert attr.lower() in cookie.lower(), attr
    page = jpn_client.get("/items")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "http" not in csp  # nothing from outside (air-gapped)
    assert not re.search(r'(src|href)="(https?:)?//', page.text)


def test_post_without_or_with_a_wrong_csrf_token_is_refused_CSRF(world: World, jpn_client: TestClient) -> None:
    sign_in(jpn_client, "jpn-officer")
    for data in ({"id": "x1", "name": "X"}, {"id": "x1", "name": "X", "csrf": "not-the-token"}):
        r = jpn_client.post("/people/add", data=data)
        assert r.status_code == 403 and "CSRF" in r.text
    assert world.jpn.register.get("x1") is None
    sign_in(jpn_client, "jpn-analyst")
    r = jpn_client.post("/api/items/kor-missile/read", json={"purpose": "analysis"})
    assert r.status_code == 403  # the API wants X-CSRF-Token
    me = jpn_client.get("/api/me").json()
    r = jpn_client.post(
        "/api/items/kor-missile/read", json={"purpose": "analysis"}, headers={"X-CSRF-Token": me["csrf"]}
    )
    assert r.status_code == 200 and r.json()["allowed"] is True


def test_roles_are_enforced_on_every_page(world: World) -> None:
    users = {"jpn-analyst": {Role.OPERATOR}, "jpn-officer": {Role.SECURITY_OFFICER}, "jpn-auditor": {Role.AUDITOR}}
    for user, roles in users.items():
        c = sign_in(TestClient(create_console(world.jpn), base_url="https://testserver"), user)
        for key, path in GET_PAGES.items():
            r = c.get(path)
            expected = 200 if PAGES[key] & roles else 403
            assert r.status_code == expected, (user, path, r.status_code)
        api = c.get("/api/items").status_code
        assert api == (200 if PAGES["items"] & roles else 403), user


def test_auditor_cannot_decide_consents_or_change_people(world: World, kor_client: TestClient) -> None:
    world.kor.register.add(member("kor-auditor", "KOR", None, set(), {Role.AUDITOR}), by="test", password=PASSWORD)
    sign_in(kor_client, "kor-auditor")
    csrf = kor_client.get("/api/me").json()["csrf"]
    rid = world.kor.consent_requests("pending")[0]["request_id"]
    r = kor_client.post(f"/consents/{rid}/decide", data={"csrf": csrf, "action": "approve", "reason": "x"})
    assert r.status_code == 403
    assert world.kor.consent_requests("pending")  # still pending
    r = kor_client.post("/people/add", data={"csrf": csrf, "id": "k2", "name": "K"})
    assert r.status_code == 403


def test_consent_decision_records_the_reason_and_needs_one(world: World, kor_client: TestClient) -> None:
    sign_in(kor_client, "kor-officer")
    page = kor_client.get("/consents").text
    csrf = csrf_of(page)
    rid = world.kor.consent_requests("pending")[0]["request_id"]
    r = kor_client.post(f"/consents/{rid}/decide", data={"csrf": csrf, "action": "approve", "reason": " "})
    assert r.status_code == 400 and world.kor.consent_requests("pending")
    r = kor_client.post(f"/consents/{rid}/decide", data={"csrf": csrf, "action": "deny", "reason": "not now"})
    assert r.status_code == 200
    row = world.kor.consent_requests("denied")[0]
    assert (row["decided_by"], row["reason"]) == ("kor-officer", "not now")


def test_read_refusals_are_explained_and_audited_JK_R14_R15_R7(world: World, jpn_client: TestClient) -> None:
    sign_in(jpn_client, "jpn-lowly")  # 秘 only: k-missile is 極秘 in JPN
    csrf = csrf_of(jpn_client.get("/items/kor-missile").text)
    r = jpn_client.post("/items/kor-missile/read", data={"csrf": csrf, "purpose": "analysis"})
    assert r.status_code == 403 and "CLEARANCE_TOO_LOW" in r.text and MISSILE.decode() not in r.text
    sign_in(jpn_client, "jpn-officer")  # security officer, 極秘, no need-to-know: the role opens nothing
    csrf = csrf_of(jpn_client.get("/items/kor-missile").text)
    r = jpn_client.post("/items/kor-missile/read", data={"csrf": csrf, "purpose": "inspection"})
    assert r.status_code == 403 and "NO_NEED_TO_KNOW" in r.text and MISSILE.decode() not in r.text
    sign_in(jpn_client, "jpn-analyst")
    csrf = csrf_of(jpn_client.get("/items/kor-missile").text)
    r = jpn_client.post("/items/kor-missile/read", data={"csrf": csrf, "purpose": "   "})
    assert r.status_code == 403 and "NO_PURPOSE" in r.text
    r = jpn_client.post("/items/kor-missile/read", data={"csrf": csrf, "purpose": "warning analysis"})
    assert r.status_code == 200 and MISSILE.decode() in r.text
    reads = world.jpn.events(type_="access", item_id="kor-missile")
    outcomes = sorted((e["body"]["person"], e["body"]["allowed"]) for e in reads)
    assert outcomes == [("jpn-analyst", False), ("jpn-analyst", True), ("jpn-lowly", False), ("jpn-officer", False)]
    assert all(MISSILE.decode() not in str(e["body"]) for e in reads)  # never the content


def test_people_managed_from_the_console_are_audited(world: World, jpn_client: TestClient) -> None:
    sign_in(jpn_client, "jpn-officer")
    csrf = csrf_of(jpn_client.get("/people").text)
    r = jpn_client.post(
        "/people/add",
        data={
            "csrf": csrf,
            "id": "jpn-contractor",
            "name": "C. Contractor",
            "nationality": "JPN",
            "employment": "contractor",
            "employer": "Mitsubishi Electric",
            "facility": "Kamakura works",
            "clearance": "極秘",
            "need_to_know": "DPRK-MISSILE",
            "roles": "operator",
            "password": "a long password 1",
        },
    )
    assert r.status_code == 200 and "Added jpn-contractor" in r.text
    r = jpn_client.post(
        "/people/jpn-contractor/clearance",
        data={
            "csrf": csrf,
            "clearance": "秘",
            "until": "2030-01-01",
            "need_to_know": "DPRK-MISSILE",
            "role-operator": "1",
            "role-auditor": "1",
        },
    )
    assert r.status_code == 200
    m = world.jpn.register.get("jpn-contractor")
    assert m is not None and m.person.clearance == "秘" and str(m.person.clearance_until) == "2030-01-01"
    assert m.roles == {Role.OPERATOR, Role.AUDITOR}
    r = jpn_client.post("/people/jpn-officer/clearance", data={"csrf": csrf, "clearance": "極秘", "role-operator": "1"})
    assert r.status_code == 400 and Role.SECURITY_OFFICER in world.jpn.register.get("jpn-officer").roles  # type: ignore[union-attr]
    r = jpn_client.post("/people/jpn-contractor/disable", data={"csrf": csrf, "reason": "left the programme"})
    assert world.jpn.register.get("jpn-contractor").disabled  # type: ignore[union-attr]
    actions = [(e["body"]["action"], e["body"]["by"]) for e in world.jpn.events(type_="person")]
    for a in ("add", "set-clearance", "set-roles", "disable"):
        assert (a, "jpn-officer") in actions
    assert all("password" not in str(e["body"].get("changed", "")) for e in world.jpn.events(type_="person"))


def test_matrix_what_if_and_bad_inputs(world: World, jpn_client: TestClient) -> None:
    sign_in(jpn_client, "jpn-analyst")
    r = jpn_client.get(
        "/matrix", params={"at": "2019-12-02", "topic": "DPRK-MISSILE", "drop": "jpn-kor-gsomia@2019-11-22"}
    )
    assert r.status_code == 200 and "changed" in r.text
    assert jpn_client.get("/matrix", params={"at": "not-a-day"}).status_code == 400
    assert jpn_client.get("/matrix", params={"drop": "nope@2019-01-01"}).status_code == 400


@pytest.mark.parametrize("user", ["jpn-auditor", "jpn-officer"])
def test_audit_browse_verify_export(world: World, jpn_client: TestClient, user: str) -> None:
    sign_in(jpn_client, user)
    assert "sign-in" in jpn_client.get("/audit", params={"type": "person"}).text
    world.jpn.service.flush_audit()
    v = jpn_client.get("/audit/verify", params={"index": 0})
    assert v.status_code == 200 and "Verified" in v.text and "included" in v.text
    exp = jpn_client.get("/audit/export")
    assert exp.status_code == 200 and exp.text.splitlines()[0].startswith("{")


def test_sign_out_ends_the_session(jpn_client: TestClient) -> None:
    sign_in(jpn_client, "jpn-analyst")
    csrf = csrf_of(jpn_client.get("/items").text)
    jpn_client.post("/logout", data={"csrf": csrf})
    assert jpn_client.get("/items", follow_redirects=False).status_code == 303


def test_visitor_session_is_capped_at_the_visit_JK_R18(world: World, jpn_client: TestClient) -> None:
    import datetime as dt

    from accord.core.people import Visit

    reg = world.jpn.register
    reg.add(member("kim", "KOR", "군사Ⅱ급비밀", {"DPRK-MISSILE"}, {Role.OPERATOR}), by="jpn-officer", password=PASSWORD)
    token = csrf_of(jpn_client.get("/login").text)
    r = jpn_client.post("/login", data={"username": "kim", "password": PASSWORD, "csrf": token})
    assert r.status_code == 403 and "JK-R18" in r.text  # no visit today: no session
    # JPN's own item, 極秘 (SECRET), releasable to KOR; the visit allows up to 秘 (CONFIDENTIAL)
    net = world.net
    net.submit(
        "JPN",
        {
            "originator": "JPN",
            "classification": "極秘",
            "topics": ["DPRK-MISSILE"],
            "releasable_to": ["KOR", "USA"],
            "caveats": [],
            "created": "2017-01-01T00:00:00Z",
            "review": None,
            "id": "jpn-secret",
        },
        "KOR",
        "2017-02-12",
        b"JPN secret assessment",
    )
    today = world.jpn.today()
    tomorrow = today + dt.timedelta(days=1)
    reg.add_visit(
        Visit(
            "v-2026-1", "kim", "JPN", "秘", frozenset({"DPRK-MISSILE"}), today, tomorrow, "staff talks", "jpn-officer"
        ),
        by="jpn-officer",
    )
    sign_in(jpn_client, "kim")
    page = jpn_client.get("/items/jpn-secret").text
    assert "Visitor: visit v-2026-1, up to 秘" in page
    r = jpn_client.post("/items/jpn-secret/read", data={"csrf": csrf_of(page), "purpose": "staff talks"})
    assert r.status_code == 403 and "VISIT_LEVEL_CAP" in r.text and "JPN secret assessment" not in r.text
    r = jpn_client.post("/items/kor-missile/read", data={"csrf": csrf_of(page), "purpose": "staff talks"})
    assert r.status_code == 403 and "VISITOR_NOT_RELEASABLE" in r.text  # KOR's item held by JPN: not JPN's to show


def test_audit_verify_and_export_from_a_process_that_is_not_the_audit_writer(world: World, tmp_path: Path) -> None:
    from accord.console.backend import NodeBackend
    from accord.node.wiring import load_service

    world.jpn.service.flush_audit()
    reader = NodeBackend(load_service(world.net.cfgs["JPN"].dir, audit=False), world.net.cfgs["JPN"].dir)
    assert reader.service.feeder is None  # as under `accord console serve` beside `accord node run`
    rep = reader.audit_verify(1)
    assert rep["ok"] and rep["size"] >= 8 and rep["inclusion"]["ok"] and rep["consistency"]["ok"]
    assert reader.audit_export(tmp_path / "x.jsonl") == rep["size"]


def test_attestation_api_JK_R17(jpn_client: TestClient) -> None:
    sign_in(jpn_client, "jpn-analyst")
    csrf = jpn_client.get("/api/me").json()["csrf"]
    lab = {
        "originator": "KOR",
        "classification": "군사Ⅱ급비밀",
        "topics": ["DPRK-MISSILE"],
        "releasable_to": ["JPN"],
        "caveats": [],
        "created": "2024-01-01T00:00:00Z",
    }
    body = {"label": lab, "readers": ["jpn-analyst", "jpn-lowly"]}
    assert jpn_client.post("/api/attest", json=body).status_code == 403  # no CSRF header
    r = jpn_client.post("/api/attest", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    assert r.json()["all_cleared"] is False and [x["cleared"] for x in r.json()["readers"]] == [True, False]
    r = jpn_client.post("/api/attest", json={"label": lab, "readers": []}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400


def test_repeated_failed_sign_ins_lock_the_user_name(world: World, jpn_client: TestClient) -> None:
    for _ in range(5):
        token = csrf_of(jpn_client.get("/login").text)
        r = jpn_client.post("/login", data={"username": "jpn-analyst", "password": "guess guess guess", "csrf": token})
        assert r.status_code == 401
    token = csrf_of(jpn_client.get("/login").text)
    r = jpn_client.post("/login", data={"username": "jpn-analyst", "password": PASSWORD, "csrf": token})
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text  # even the right password, for a while
    assert any(e["body"]["action"] == "sign-in-locked" for e in world.jpn.events(type_="person"))
    sign_in(jpn_client, "jpn-officer")  # other users are not affected
