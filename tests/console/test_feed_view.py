"""The console's live feed view (issue 12, "Feed"): the JSON endpoint against feed logs written by the
feed's own services, the page's banners and figures, role refusals, and a tampered record kept out."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.console.app import create_console
from accord.feed.model import Kind
from accord.feed.view import latest_tracks
from tests.console.conftest import sign_in
from tests.console.feed_support import publish_flights, simulated_flight
from tests.console.world import World, build

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, list[Any]]:
    """The console world after KOR published one simulated flight through the USA hub to JPN (M-R4)."""
    w = build(tmp_path_factory.mktemp("feedworld"))
    msgs = simulated_flight("KN-23-A")
    publish_flights({p: w.net.cfgs[p].dir for p in ("KOR", "USA", "JPN")}, msgs)
    return w, msgs


@pytest.fixture
def client(fed: tuple[World, list[Any]]) -> TestClient:
    return TestClient(create_console(fed[0].jpn), base_url="https://testserver")


def test_feed_api_gives_the_flight_jpn_received(fed: tuple[World, list[Any]], client: TestClient) -> None:
    _, msgs = fed
    sign_in(client, "jpn-analyst")
    r = client.get("/api/feed")
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["party"] == "JPN" and data["available"] and data["quarantined"] == 0
    (f,) = data["flights"]
    launch = next(m for m in msgs if m.kind is Kind.LAUNCH)
    impact = [m for m in msgs if m.kind is Kind.IMPACT][-1]  # the latest prediction
    tracks = [m for m in msgs if m.kind is Kind.TRACK]
    assert (f["originator"], f["event"], f["streams"]) == ("KOR", "KN-23-A", ["KOR-JPN"])
    assert f["launch"] == {"time": launch.time_us, "lat": launch.lat, "lon": launch.lon}
    assert f["impact"] == {"time": impact.time_us, "lat": impact.lat, "lon": impact.lon}
    assert f["points"] == len(tracks) > 10
    assert [(p["time"], p["lat"], p["lon"]) for p in f["track"]] == [(m.time_us, m.lat, m.lon) for m in tracks]
    streams = {s["stream"]: s for s in data["streams"]}
    assert streams["KOR-JPN"]["role"] == "received" and streams["KOR-JPN"]["readable"]
    assert streams["KOR-JPN"]["head"] >= len(msgs) + 1  # the session record, the data, batch signatures
    assert data["status"]["party"] == "JPN" and data["status"]["received"] >= len(msgs)
    assert data["status"]["heads"]["KOR-JPN"] == streams["KOR-JPN"]["head"]


def test_feed_page_shows_the_banner_figures_and_its_own_script(client: TestClient) -> None:
    sign_in(client, "jpn-officer")  # security officers see the feed too
    r = client.get("/feed")
    assert r.status_code == 200
    html = r.text
    # the warning data's label (the arrangement's equivalence row), in JPN's marking first, coloured SECRET
    assert 'class="banner tier-secret"' in html and "DPRK-MISSILE-WARNING" in html
    assert html.index("極秘") < html.index("군사Ⅱ급비밀")
    assert "KN-23-A" in html and "KOR-JPN" in html and "received" in html
    assert '<script src="/static/feed.js" defer></script>' in html and "<script>" not in html
    assert "script-src 'self'" in r.headers["content-security-policy"]
    js = client.get("/static/feed.js")
    assert js.status_code == 200 and "/api/feed" not in js.text  # the endpoint comes from the page (data-api)
    assert 'data-api="/api/feed"' in html


def test_the_published_streams_show_heads_only_content_sealed_to_the_recipients(fed: tuple[World, list[Any]]) -> None:
    w, _ = fed
    kor = latest_tracks(w.net.cfgs["KOR"].dir)
    assert kor["flights"] == []
    roles = {s["stream"]: (s["role"], s["readable"]) for s in kor["streams"]}
    assert roles["KOR-JPN"] == ("published", False) and roles["KOR-USA"] == ("published", False)
    usa = latest_tracks(w.net.cfgs["USA"].dir)  # the hub: KOR's flight is for USA too (KOR-USA)
    assert [f["streams"] for f in usa["flights"]] == [["KOR-USA"]]
    relayed = next(s for s in usa["streams"] if s["stream"] == "KOR-JPN")
    assert (relayed["role"], relayed["readable"]) == ("relayed", False)  # the hub cannot read KOR-JPN


def test_unauthenticated_and_wrong_role_are_refused(client: TestClient) -> None:
    r = client.get("/feed", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("/login")
    r = client.get("/api/feed")
    assert r.status_code == 401 and "flights" not in r.text
    sign_in(client, "jpn-auditor")  # an auditor has no business with live warning data
    assert client.get("/feed").status_code == 403
    r = client.get("/api/feed")
    assert r.status_code == 403 and "flights" not in r.text


def test_a_tampered_record_in_the_log_is_quarantined_not_shown(fed: tuple[World, list[Any]]) -> None:
    w, _ = fed
    db_path = Path(w.net.cfgs["JPN"].dir) / "feed" / "feed.db"
    clean = latest_tracks(w.net.cfgs["JPN"].dir)["flights"][0]
    db = sqlite3.connect(db_path)
    try:
        # the 6th DATA record of KOR-JPN, inside the segment row of the log that holds it (docs/feed.md)
        from accord.feed import frame as ff

        rows = db.execute("SELECT first, body FROM segs WHERE stream = 'KOR-JPN' ORDER BY first").fetchall()
        first, seq, raw = [(f, q, r) for f, b in rows for q, r in ff.segment_records(b) if r[15] == ff.DATA][5]
        body = next(bytes(b) for f, b in rows if f == first)
        end = ff.segment_offset(body, first, seq) + 4 + len(raw)
        bad = body[: end - 1] + bytes([body[end - 1] ^ 1]) + body[end:]
        db.execute("UPDATE segs SET body = ? WHERE stream = 'KOR-JPN' AND first = ?", (bad, first))
        db.commit()
        before = latest_tracks(w.net.cfgs["JPN"].dir)
        assert before["quarantined"] == 1
        f = before["flights"][0]
        assert f["points"] == clean["points"] - 1  # the 6th data record is a track point: left out, alarmed
        assert f["launch"] == clean["launch"] and f["impact"] == clean["impact"]
    finally:
        db.execute("UPDATE segs SET body = ? WHERE stream = 'KOR-JPN' AND first = ?", (body, first))
        db.commit()
        db.close()
    assert latest_tracks(w.net.cfgs["JPN"].dir)["quarantined"] == 0


def test_a_node_without_a_feed_says_so_and_the_view_writes_nothing(tmp_path: Path) -> None:
    w = build(tmp_path)
    jpn = Path(w.net.cfgs["JPN"].dir)
    v = latest_tracks(jpn)
    assert v["available"] is False and "no feed service" in v["why"] and v["flights"] == []
    assert not (jpn / "feed").exists()
