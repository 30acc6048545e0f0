"""A conflicting edit merges by itself in a real browser (issue 14, point 5): two
people, each in their own browser context, edit one record at once."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from kurrent.services import records

pytestmark = pytest.mark.django_db(transaction=True)


def data_of(page) -> dict:
    return json.loads(page.locator("#id_data").input_value())


def test_two_people_edit_one_record_and_the_second_gets_the_merge(
    new_page, alice, admin_user, screenshots
):
    r = records.create_record(
        alice, name="Colony", data={"count": 3, "site": "Snow Hill"}, tags=["census"]
    )
    edit = f"/kurrent-db-demo/records/{r.id}/edit/"
    mine, theirs = new_page(user=alice), new_page(user=admin_user)
    mine.goto(edit)
    theirs.goto(edit)

    # The admin saves first: a new count.
    theirs.locator("#id_data").fill(json.dumps({"count": 4, "site": "Snow Hill"}))
    theirs.get_by_role("button", name="Save").click()
    theirs.wait_for_url(re.compile(rf"/records/{r.id}/$"))

    # Alice, still on version 0, renames it and moves the site.
    mine.locator("#id_name").fill("Colony A")
    mine.locator("#id_data").fill(json.dumps({"count": 3, "site": "Cape Crozier"}))
    mine.get_by_role("button", name="Save").click()

    expect(mine.locator("#edit-form").get_by_text("Merged for you.")).to_be_visible()
    assert data_of(mine) == {"count": 4, "site": "Cape Crozier"}
    expect(mine.locator("#id_name")).to_have_value("Colony A")
    expect(mine.locator('input[name="merge_path"]')).to_have_count(0)
    mine.screenshot(path=str(screenshots / "merge-ready.png"), full_page=True)
    stored = records.get_record(alice, r.id)
    assert (stored.version, stored.name) == (1, "Colony")  # nothing saved until she says

    mine.get_by_role("button", name="Save my merged version").click()
    mine.wait_for_url(re.compile(rf"/records/{r.id}/$"))
    stored = records.get_record(alice, r.id)
    assert (stored.version, stored.name, stored.data) == (
        2,
        "Colony A",
        {"count": 4, "site": "Cape Crozier"},
    )

    # Now both change the count: only that part asks for a choice.
    mine.goto(edit)
    theirs.goto(edit)
    theirs.locator("#id_data").fill(json.dumps({"count": 10, "site": "Cape Crozier"}))
    theirs.get_by_role("button", name="Save").click()
    theirs.wait_for_url(re.compile(rf"/records/{r.id}/$"))
    mine.locator("#id_data").fill(json.dumps({"count": 20, "site": "Cape Crozier"}))
    mine.locator("#id_tags").fill("census, recount")
    mine.get_by_role("button", name="Save").click()

    expect(mine.locator("#edit-form").get_by_text("1 part changed on both sides")).to_be_visible()
    expect(mine.locator("fieldset.merge-choice")).to_have_count(1)
    expect(mine.locator("fieldset.merge-choice legend")).to_contain_text("data.count")
    mine.screenshot(path=str(screenshots / "merge-choice.png"), full_page=True)
    mine.get_by_label("Take the stored one").check()
    mine.get_by_role("button", name="Save my merged version").click()
    mine.wait_for_url(re.compile(rf"/records/{r.id}/$"))

    stored = records.get_record(alice, r.id)
    assert stored.data == {"count": 10, "site": "Cape Crozier"}
    assert stored.tags == ("census", "recount") and stored.version == 4
    assert mine.errors == [] and theirs.errors == []
