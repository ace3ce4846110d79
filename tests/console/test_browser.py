"""The console in a real browser (Playwright driving Debian's chromium; no browser download).

Scenarios of issue 12: sign in, read an item, be refused an item without need-to-know, approve a consent,
see the sharing matrix change with the day; plus accessibility basics (labels, keyboard, banner contrast).
Screenshots go to tests/console/artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from accord.console.banners import contrast
from tests.console.conftest import ARTIFACTS
from tests.console.world import MISSILE, PASSWORD, World

CHROMIUM = os.environ.get("ACCORD_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.integration

if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
    pytest.skip(f"no Chromium at {CHROMIUM} (Debian package `chromium`; .ci/run installs it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--headless",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    external: list[str] = []
    pg.on("request", lambda r: external.append(r.url) if "://localhost:" not in r.url else None)
    yield pg
    ctx.close()
    assert not external, f"the console fetched external resources: {external}"


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, url: str, user: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()


def test_sign_in_and_read_an_item_JK_R15(live: tuple[str, World], page: Any) -> None:
    base, _ = live
    url = f"{base}/jpn/console"
    page.goto(f"{url}/login")
    shot(page, "01-login")
    sign_in(page, url, "jpn-analyst")
    assert page.url.endswith("/items")
    assert page.get_by_role("heading", name="Inbox").is_visible()
    banner = page.locator(".banner").first
    assert "極秘" in banner.inner_text() and "군사Ⅱ급비밀" in banner.inner_text()  # national marking + equivalents
    shot(page, "02-inbox")
    page.get_by_role("link", name="kor-missile").click()
    page.get_by_label("Purpose of this read (JK-R7)").fill("missile-warning analysis")
    page.get_by_role("button", name="Read").click()
    assert page.locator("pre.content").inner_text() == MISSILE.decode()
    assert "Read recorded" in page.locator(".allowed").inner_text()
    shot(page, "03-read-allowed")


def test_refused_an_item_without_need_to_know_JK_R14(live: tuple[str, World], page: Any) -> None:
    base, w = live
    url = f"{base}/jpn/console"
    sign_in(page, url, "jpn-analyst")
    page.goto(f"{url}/items/kor-nuclear")
    page.get_by_label("Purpose of this read (JK-R7)").fill("curiosity")
    page.get_by_role("button", name="Read").click()
    alert = page.locator(".refused")
    assert "NO_NEED_TO_KNOW" in alert.inner_text() and "JK-R14" in alert.inner_text()
    assert page.locator("pre.content").count() == 0
    shot(page, "04-read-refused")
    reads = [e for e in w.jpn.events(type_="access", item_id="kor-nuclear") if e["body"].get("person") == "jpn-analyst"]
    assert reads and reads[0]["body"]["allowed"] is False  # the refusal is an audit event


def test_security_officer_approves_a_consent_in_one_click_T_R5(live: tuple[str, World], page: Any) -> None:
    base, w = live
    url = f"{base}/kor/console"
    sign_in(page, url, "kor-officer")
    page.goto(f"{url}/consents")
    shot(page, "05-consent-queue")
    card = page.locator("li.card").filter(has_text="kor-relay")
    card.get_by_label("Reason for the decision").fill("TISA relay for the 2015 launch analysis")
    card.get_by_role("button", name="Approve").click()
    assert "Approved" in page.locator(".note").inner_text()
    assert page.locator("li.card").filter(has_text="kor-relay").count() == 0
    decided = page.locator("table").first.inner_text()
    assert "approved" in decided and "kor-officer" in decided and "TISA relay" in decided
    shot(page, "06-consent-approved")
    w.net.pump()
    assert w.net.nodes["JPN"].item_status("kor-relay")["sender"] == "USA"  # released through the hub


def _cell(page: Any, cell: str) -> str:
    return str(page.locator(f'td[data-cell="{cell}"]').inner_text())


def test_matrix_changes_when_the_day_changes(live: tuple[str, World], page: Any) -> None:
    base, _ = live
    url = f"{base}/jpn/console"
    sign_in(page, url, "jpn-analyst")
    page.goto(f"{url}/matrix?at=2015-06-01&topic=DPRK-MISSILE")
    before = _cell(page, "KOR-JPN")
    assert "KOR → USA → JPN" in before  # 2015: TISA, through the US hub (T-R4)
    shot(page, "07-matrix-2015")
    with page.expect_navigation():
        page.get_by_label("Day").fill("2017-02-12")
    after = _cell(page, "KOR-JPN")
    assert "KOR → JPN" in after and "USA" not in after.split("via")[1].split("(")[0]  # 2017: the GSOMIA, direct
    shot(page, "08-matrix-2017")
    # what-if: the 2019 suspension of the termination notice never happened -> on 2019-12-02 no direct route
    page.goto(f"{url}/matrix?at=2019-12-02&topic=DPRK-MISSILE&drop=jpn-kor-gsomia@2019-11-22")
    assert "KOR → JPN" in _cell(page, "KOR-JPN").split("[")[0]
    assert "KOR → USA → JPN" in _cell(page, "KOR-JPN").split("[")[1]
    shot(page, "09-matrix-whatif")


def test_accessibility_labels_keyboard_and_banner_contrast(live: tuple[str, World], page: Any) -> None:
    base, _ = live
    url = f"{base}/jpn/console"
    page.goto(f"{url}/login")
    # keyboard only: the user name has the focus, Tab goes to the password, Enter signs in
    page.wait_for_function("document.activeElement && document.activeElement.id === 'username'", timeout=5000)
    page.keyboard.type("jpn-officer")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/items")
    page.keyboard.press("Tab")  # the first stop of every page is the skip link
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    unlabelled_js = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)"""
    for path in ("/items", "/items/kor-missile", "/matrix", "/consents", "/people", "/audit", "/agreements"):
        page.goto(f"{url}{path}")
        assert page.evaluate(unlabelled_js) == [], path
        assert page.locator("h1").count() >= 1, path
    page.goto(f"{url}/items/kor-missile")
    colours = page.evaluate("""() => [...document.querySelectorAll('.banner')].map(b => {
        const s = getComputedStyle(b); return [s.backgroundColor, s.color]; })""")
    assert colours
    for bg, fg in colours:
        ratio = contrast(_hex(bg), _hex(fg))
        assert ratio >= 4.5, (bg, fg, ratio)
    shot(page, "10-item-detail")
    page.goto(f"{url}/agreements")
    shot(page, "11-agreements")
    page.goto(f"{url}/people")
    shot(page, "12-people")
    page.goto(f"{url}/audit")
    shot(page, "13-audit")


def _hex(css: str) -> str:
    nums = [int(x) for x in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]
    return "#" + "".join(f"{n:02X}" for n in nums)


def test_feed_page_draws_the_tracks_live(live: tuple[str, World], page: Any) -> None:
    """Issue 12 "Feed": KOR publishes a simulated flight through the hub; JPN's feed page draws it as a
    polyline with launch and impact markers, and draws a second flight published while the page is open."""
    from tests.console.feed_support import publish_flights, simulated_flight

    base, w = live
    dirs = {p: w.net.cfgs[p].dir for p in ("KOR", "USA", "JPN")}
    publish_flights(dirs, simulated_flight("KN-23-A", seconds_ago=90, azimuth=95))
    url = f"{base}/jpn/console"
    sign_in(page, url, "jpn-analyst")
    page.goto(f"{url}/feed")
    page.wait_for_selector('#feed-tracks g.flight[data-event="KN-23-A"] polyline.track', timeout=10_000)
    flight = page.locator('#feed-tracks g.flight[data-event="KN-23-A"]')
    assert flight.locator("polygon.launch").count() == 1 and flight.locator("path.impact").count() == 1
    assert len(flight.locator("polyline.track").get_attribute("points").split()) > 50
    banner = page.locator(".banner").first
    assert "極秘" in banner.inner_text() and "DPRK-MISSILE-WARNING" in banner.inner_text()
    assert "KOR-JPN" in page.locator("#feed-streams").inner_text()
    # live: a second flight published while the page is open appears without a reload
    publish_flights(dirs, simulated_flight("KN-25-B", seconds_ago=80, azimuth=70))
    page.wait_for_selector('#feed-tracks g.flight[data-event="KN-25-B"] polyline.track', timeout=10_000)
    assert page.locator("#feed-tracks g.flight").count() == 2
    assert "KN-25-B" in page.locator("#feed-flights").inner_text()
    shot(page, "14-feed")
