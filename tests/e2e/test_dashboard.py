"""The dashboard in a real browser: the issue's scenarios, end to end."""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest
from playwright.sync_api import expect

from kurrent.models import StreamRecord
from kurrent.services import records, userdata
from tests.conftest import point_env_at
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)
DASHBOARD = "/kurrent-db-demo/"


def create_in_form(
    page: Any, name: str, data: str = '{"species": "emperor"}', tags: str = ""
) -> None:
    form = page.locator("#create-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Data").fill(data)
    form.get_by_label("Tags").fill(tags)
    form.get_by_role("button", name="Create record").click()
    expect(page.locator("#create-form")).to_contain_text(f"Created {name}")


def test_sign_in(new_page, alice):
    page = new_page()
    page.goto(DASHBOARD)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username")
    sign_in(page, "alice")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("#status-dev")).to_contain_text("Connected")
    assert page.errors == []


def test_create_search_open_edit_delete(new_page, alice):
    page = new_page(user=alice)
    create_in_form(page, "Emperor colony", '{"site": "Halley Bay", "count": 312}', "census")
    create_in_form(page, "Adelie nests", '{"site": "Hope Bay"}', "nests")
    # The list reloads itself after a create (HX-Trigger), no page reload.
    expect(page.locator("#record-results")).to_contain_text("Adelie nests")

    # Search as you type: the results follow, and so does the URL.
    page.get_by_label("Search names, tags and data").press_sequentially("halley", delay=30)
    # The URL changes once the last (debounced) search has been swapped in.
    expect(page).to_have_url(re.compile(r"q=halley"))
    results = page.locator("#record-results .record-row")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Emperor colony")

    # Open it.
    results.first.get_by_role("link", name="Emperor colony").click()
    expect(page.get_by_role("heading", name="Emperor colony")).to_be_visible()
    expect(page.locator("#record-json")).to_contain_text('"count": 312')
    page.get_by_role("link", name="Raw").click()
    expect(page.locator('#record-json [data-json-view="raw"]')).to_be_visible()

    # Edit it.
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Name").fill("Emperor colony 2026")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Emperor colony 2026")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("StreamUpdated")

    # Delete it, after confirming.
    page.get_by_role("link", name="Delete…").click()
    expect(
        page.get_by_role("heading", name=re.compile("Delete “Emperor colony 2026”"))
    ).to_be_visible()
    page.get_by_role("button", name=re.compile("Delete version")).click()
    expect(page).to_have_url(re.compile(r"/kurrent-db-demo/$"))
    expect(page.locator(".messages")).to_contain_text("Deleted “Emperor colony 2026”")
    expect(page.locator("#record-results")).not_to_contain_text("Emperor colony 2026")
    assert StreamRecord.objects.get(name="Emperor colony 2026").deleted
    assert page.errors == []


def test_two_editors_conflict_and_nothing_is_lost(new_page, alice):
    record = records.create_record(alice, name="Shared census", data={"count": 1})
    first = new_page(user=alice)
    second = new_page(user=alice)
    edit = f"/kurrent-db-demo/records/{record.id}/edit/"
    first.goto(edit)
    second.goto(edit)

    first.get_by_label("Name").fill("Name from tab one")
    first.get_by_role("button", name="Save").click()
    expect(first.get_by_role("heading", name="Name from tab one")).to_be_visible()

    second.get_by_label("Name").fill("Name from tab two")
    second.get_by_label("Data").fill('{"count": 2}')
    second.get_by_role("button", name="Save").click()
    conflict = second.locator("#conflict")
    expect(conflict).to_contain_text("Someone changed this record while you were editing it")
    table = second.locator(".conflict-table")
    expect(table).to_contain_text("Name from tab one")
    expect(table).to_contain_text("Name from tab two")
    # What the second user typed is still in the form; nothing was saved over tab one.
    expect(second.get_by_label("Name", exact=True)).to_have_value("Name from tab two")
    assert records.get_record(alice, record.id).name == "Name from tab one"

    # Saving again is a deliberate choice, made after seeing both.
    second.get_by_role("button", name="Save my merged version").click()
    expect(second.get_by_role("heading", name="Name from tab two")).to_be_visible()
    saved = records.get_record(alice, record.id)
    assert (saved.name, saved.data, saved.version) == ("Name from tab two", {"count": 2}, 2)
    history = [h.event_type for h in records.record_history(alice, record.id)]
    assert history == ["StreamCreated", "StreamUpdated", "StreamUpdated"]


def test_private_data_never_shows_to_another_user(new_page, alice, bob):
    secret = records.create_record(alice, name="Alice private nest", data={"gps": "secret"})
    records.create_record(alice, name="Alice public nest", data={}, is_public=True)
    userdata.store_entry(
        alice, entry_type="profile", category="alice-diary", value={"note": "mine"}
    )
    page = new_page(user=bob)
    results = page.locator("#record-results")
    expect(results).to_contain_text("Alice public nest")
    expect(results).not_to_contain_text("Alice private nest")
    expect(page.locator("#activity-feed")).not_to_contain_text("Alice private nest")

    page.get_by_label("Search names, tags and data").press_sequentially("private", delay=30)
    expect(page.locator("#record-results")).to_contain_text("No records match")

    response = page.goto(f"/kurrent-db-demo/records/{secret.id}/")
    assert response.status == 404  # as an unknown id: its existence is not revealed
    expect(page.locator("main")).not_to_contain_text("secret")

    page.goto("/kurrent-db-demo/directory/")
    expect(page.locator("main")).not_to_contain_text("alice-diary")
    page.goto("/kurrent-db-demo/me/")
    expect(page.locator("main")).not_to_contain_text("alice-diary")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_status_card_goes_down_and_comes_back_without_a_reload(new_page, alice, settings, tmp_path):
    from kurrent.embedded import EmbeddedNode

    port = _free_port()
    db = str(tmp_path / "staging.sqlite3")
    staging = EmbeddedNode(db=db, host="127.0.0.1", port=port, insecure=True).start()
    point_env_at(settings, "staging", f"kurrentdb://127.0.0.1:{port}?Tls=false")
    restarted = None
    try:
        page = new_page(user=alice)
        card = page.locator("#status-staging")
        expect(card).to_have_attribute("data-state", "connected")
        # Marks that must survive: a page reload would lose all three.
        page.evaluate("window.__stillHere = true")
        search = page.get_by_label("Search names, tags and data")
        search.click()
        search.type("typing", delay=20)

        staging.stop()
        expect(card).to_have_attribute("data-state", "down", timeout=30_000)
        expect(card).to_contain_text("Down")

        restarted = EmbeddedNode(db=db, host="127.0.0.1", port=port, insecure=True).start()
        expect(card).to_have_attribute("data-state", "connected", timeout=45_000)

        assert page.evaluate("window.__stillHere") is True
        # Polling never took the user's place: focus and typed text are intact.
        assert page.evaluate("document.activeElement && document.activeElement.id") == "id_q"
        expect(search).to_have_value("typing")
    finally:
        (restarted or staging).stop()


def test_new_events_are_announced_not_pushed(new_page, alice, bob):
    records.create_record(alice, name="Already here", data={}, is_public=True)
    page = new_page(user=alice)
    feed = page.locator("#activity-feed .activity-list li")
    expect(feed).to_have_count(1)
    records.create_record(bob, name="Arrived later", data={}, is_public=True)
    button = page.get_by_role("button", name=re.compile(r"1 new event"))
    expect(button).to_be_visible(timeout=10_000)
    expect(feed).to_have_count(1)  # the list did not move under the reader
    button.click()
    expect(feed).to_have_count(2)
    expect(feed.first).to_contain_text("Arrived later")


def test_dark_mode_follows_the_system_and_the_toggle_is_remembered(new_page, alice):
    page = new_page(user=alice, scheme="light")
    background = "getComputedStyle(document.body).backgroundColor"
    light = page.evaluate(background)
    toggle = page.get_by_role("button", name=re.compile("theme"))
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    dark = page.evaluate(background)
    assert dark != light
    assert _luminance(dark) < 0.1 < _luminance(light)
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(toggle).to_have_attribute("aria-pressed", "true")

    system_dark = new_page(user=alice, scheme="dark")
    assert system_dark.evaluate("document.documentElement.getAttribute('data-theme')") is None
    assert system_dark.evaluate(background) == dark


def _luminance(css: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_pages_work_without_javascript(new_page, alice):
    page = new_page(user=alice, java_script_enabled=False)
    form = page.locator("#create-form form")
    form.get_by_label("Name").fill("No JS record")
    form.get_by_label("Data").fill('{"js": false}')
    form.get_by_role("button", name="Create record").click()
    expect(page.get_by_role("heading", name="No JS record")).to_be_visible()
    page.goto(DASHBOARD + "?q=record")
    expect(page.locator("#record-results")).to_contain_text("No JS record")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [360, 1280])
def test_screenshots_and_layout(new_page, alice, screenshots, width, scheme):
    record = records.create_record(
        alice,
        name="Emperor colony census",
        data={"species": "emperor", "count": 318, "site": {"lat": -75.5, "lon": 26.6}},
        tags=["census", "emperor"],
        is_public=True,
    )
    records.update_record(alice, record.id, expected_version=0, tags=["census", "emperor", "2026"])
    for i in range(6):
        records.create_record(
            alice, name=f"Adélie nest {i}", data={"nest": i}, tags=["nests"], is_public=i % 2 == 0
        )
    page = new_page(user=alice, width=width, scheme=scheme)
    for name, url in (
        ("dashboard", DASHBOARD),
        ("record", f"/kurrent-db-demo/records/{record.id}/"),
    ):
        page.goto(url)
        expect(page.locator("main")).to_be_visible()
        # Nothing wider than the screen: no sideways scrolling at 360 px.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
        path = screenshots / f"{name}-{width}-{scheme}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
    assert page.errors == []


CONTRAST_JS = """
(selectors) => {
  function rgb(css) { return css.match(/[\\d.]+/g).slice(0, 4).map(Number); }
  function lum([r, g, b]) {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  }
  function background(el) {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0.5) return c;
    }
    return rgb(getComputedStyle(document.body).backgroundColor);
  }
  const out = [];
  for (const selector of selectors) {
    const el = document.querySelector(selector);
    if (!el) { out.push([selector, null]); continue; }
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    out.push([selector, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]);
  }
  return out;
}
"""
CHECKED = [
    "h1",
    "main p.muted",
    ".record-name",
    ".record-meta",
    ".tag",
    ".badge",
    ".state-connected",
    ".state-not-configured",
    ".badge-prod",
    ".button-primary",
    ".status-card dt",
    ".field .help",
    ".activity-type",
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_is_at_least_4_5_to_1(new_page, alice, scheme):
    records.create_record(alice, name="Contrast check", data={}, tags=["x"], is_public=True)
    page = new_page(user=alice, scheme=scheme)
    ratios = page.evaluate(CONTRAST_JS, CHECKED)
    missing = [s for s, r in ratios if r is None]
    assert missing == []
    low = [(s, round(r, 2)) for s, r in ratios if r < 4.5]
    assert low == [], f"{scheme}: {low}"
