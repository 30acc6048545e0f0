"""After every in-place submit the focus goes to the answer, and it is read out:
a create, a validation error, a conflict, a visibility toggle."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from kurrent.services import records
from tests.kurrent.viewtools import entry

pytestmark = pytest.mark.django_db(transaction=True)
DASHBOARD = "/kurrent-db-demo/"
FOCUSED = "document.activeElement"


def focused(page) -> dict:
    return page.evaluate(
        """() => { const e = document.activeElement;
        return {tag: e.tagName, id: e.id, role: e.getAttribute("role"),
                invalid: e.getAttribute("aria-invalid"), text: e.textContent.trim(),
                name: e.getAttribute("name")}; }"""
    )


def announced(page) -> str:
    return page.locator("#announcer").text_content() or ""


def test_a_create_focuses_its_result(new_page, alice):
    page = new_page(user=alice)
    form = page.locator("#create-form")
    form.get_by_label("Name").fill("Focus target")
    form.get_by_label("Data").fill("{}")
    form.get_by_role("button", name="Create record").click()

    expect(form).to_contain_text("Created Focus target")
    expect(page.locator("#create-form [role=status]")).to_be_focused()
    assert focused(page)["text"].startswith("Created Focus target")
    assert page.errors == []


def test_a_validation_error_focuses_the_first_wrong_field(new_page, alice):
    page = new_page(user=alice)
    form = page.locator("#create-form")
    form.get_by_label("Name").fill("Bad data")
    form.get_by_label("Data").fill("[1, 2")
    form.get_by_role("button", name="Create record").click()

    expect(form.locator(".errorlist")).to_be_visible()
    expect(form.get_by_label("Data")).to_be_focused()
    state = focused(page)
    assert state["invalid"] == "true" and state["name"] == "data"
    assert page.errors == []


def test_a_conflict_focuses_the_conflict_and_says_so(new_page, alice):
    made = records.create_record(alice, name="Shared", data={"n": 1})
    page = new_page(user=alice)
    page.goto(f"/kurrent-db-demo/records/{made.id}/edit/")
    records.update_record(alice, made.id, expected_version=0, name="Changed meanwhile")

    page.get_by_label("Name").fill("Mine")
    page.get_by_role("button", name="Save").click()

    alert = page.locator("#edit-form [role=alert]").first
    expect(alert).to_be_visible()
    expect(alert).to_be_focused()
    assert page.errors == []


def test_a_visibility_toggle_keeps_focus_on_its_button_and_reads_out_the_change(new_page, alice):
    made = entry(alice, category="contact", is_public=False)
    page = new_page(user=alice)
    page.goto("/kurrent-db-demo/me/")
    card = page.locator(f"#entry-{made.id}")

    card.get_by_role("button", name="Make contact public").click()

    button = card.get_by_role("button", name="Make contact private")
    expect(button).to_be_focused()
    expect(page.locator("#announcer")).to_have_text("contact is now public.")
    assert page.errors == []


def test_the_diff_shows_one_line_per_line(new_page, alice):
    made = records.create_record(alice, name="Lines", data={"a": 1, "b": 2})
    records.update_record(alice, made.id, expected_version=0, data={"a": 1, "b": 3, "c": 4})
    page = new_page(user=alice)
    page.goto(f"/kurrent-db-demo/records/{made.id}/diff/?from_version=0&to_version=1")

    lines = page.locator("#diff-table .diff-lines").first.locator("span")
    count = lines.count()
    assert count >= 4
    tops = [lines.nth(i).bounding_box()["y"] for i in range(count)]
    heights = [lines.nth(i).bounding_box()["height"] for i in range(count)]
    gaps = [round(b - a - h, 1) for a, b, h in zip(tops, tops[1:], heights, strict=False)]
    # Each line right under the one before: no empty line between (that was a whole
    # line height), at most the few pixels a line box adds round its text.
    assert all(abs(g) < heights[0] / 4 for g in gaps), gaps
    pre = page.locator("#diff-table .diff-lines").first.bounding_box()
    assert pre["height"] < (count + 1) * heights[0] + 30
    assert page.errors == []
