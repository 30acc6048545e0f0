"""The pages a person notices, at 375 and 1,400 px, light and dark: screenshots kept in
artifacts/screenshots/ (polish-*.png), and the layout rules checked on each."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from kurrent.services import records
from tests.conftest import _user
from tests.kurrent.viewtools import entry

pytestmark = pytest.mark.django_db(transaction=True)
LONG_NAME = "Unbroken" + "x" * 190

# How many lines the first text of each matching element takes (1: never broken).
LINES_JS = """(selector) => Array.from(document.querySelectorAll(selector)).map((cell) => {
  const range = document.createRange();
  range.selectNodeContents(cell.firstChild || cell);
  const tops = new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.top)));
  return [cell.textContent.trim(), tops.size];
})"""
CARD_ROWS_JS = """() => Array.from(document.querySelectorAll(".entry-grid")).map((grid) => {
  const cards = Array.from(grid.querySelectorAll(".entry-card"));
  return cards.map((c) => [Math.round(c.getBoundingClientRect().left), Math.round(c.getBoundingClientRect().width)]);
})"""


@pytest.fixture
def world(admin_user, alice):
    record = records.create_record(
        alice,
        name="Emperor colony census",
        data={"count": 318, "site": "Halley Bay"},
        tags=["census", "emperor"],
        is_public=True,
    )
    records.update_record(
        alice,
        record.id,
        expected_version=0,
        data={"count": 320, "site": "Halley Bay", "chicks": 41},
    )
    records.create_record(alice, name=LONG_NAME, data={}, is_public=True)
    for name in ("penguin1", "researcher-adelie", "chinstrap_observer"):
        _user(name, "editor")
    entry(alice, entry_type="profile", category="contact", value={"email": "alice@example.org"})
    entry(alice, entry_type="profile", category="about", value={"bio": "Counts penguins " * 8})
    entry(alice, entry_type="profile", category="links", value={"site": "https://example.org"})
    entry(alice, entry_type="preferences", category="ui", value={"theme": "dark"}, is_public=True)
    entry(alice, entry_type="preferences", category="mail", value={"digest": "weekly"})
    return record


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 1400])
def test_polish_screenshots_and_layout(
    new_page, admin_user, alice, world, screenshots, width, scheme
):
    User.objects.filter(pk=admin_user.pk).update(is_staff=True)
    page = new_page(user=admin_user, width=width, scheme=scheme)
    pages = {
        "dashboard": "/kurrent-db-demo/",
        "status": "/kurrent-db-demo/status/",
        "diff": f"/kurrent-db-demo/records/{world.id}/diff/?from_version=0&to_version=1",
        "users": "/kurrent-db-demo/users/",
        "events": "/kurrent-db-demo/events/",
        "admin-records": "/admin/kurrent/streamrecord/",
    }
    for name, url in pages.items():
        page.goto(url)
        expect(page.locator("body")).to_be_visible()
        page.screenshot(
            path=str(screenshots / f"polish-{name}-{width}-{scheme}.png"), full_page=True
        )
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{name} is {scroll} px wide at {width}"

    page.goto("/admin/kurrent/streamrecord/")
    table, room = page.evaluate(
        """() => [document.querySelector("#result_list").getBoundingClientRect().width,
                  document.querySelector("#changelist-form").getBoundingClientRect().width]"""
    )
    if width > 1000:  # on a phone admin's own table scrolls sideways, as it always did
        assert table <= room + 1, f"the record list is {table} px wide in {room} px"

    page.goto("/kurrent-db-demo/users/")
    for name, lines in page.evaluate(LINES_JS, ".people-table tbody td:first-child"):
        assert lines == 1, f"{name!r} is broken over {lines} lines at {width} px"

    mine = new_page(user=alice, width=width, scheme=scheme)
    mine.goto("/kurrent-db-demo/me/")
    mine.screenshot(path=str(screenshots / f"polish-mydata-{width}-{scheme}.png"), full_page=True)
    assert mine.evaluate("document.documentElement.scrollWidth") <= width
    for grid in mine.evaluate(CARD_ROWS_JS):
        widths = {w for _, w in grid}
        assert len(widths) == 1, f"cards of one category differ in width: {grid}"
    button_rows = mine.evaluate(
        """() => Array.from(document.querySelectorAll(".entry-card > .actions")).map((row) =>
        new Set(Array.from(row.querySelectorAll(".button")).map((b) => Math.round(b.getBoundingClientRect().top))).size)"""
    )
    assert set(button_rows) == {1}, f"a card's buttons wrap: {button_rows}"
    assert page.errors == [] and mine.errors == []
