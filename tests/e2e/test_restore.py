"""Deleting a record and restoring it from its history, in a real browser (issue 14,
point 6): the restore is an event, shown in the timeline like any other."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from kurrent.services import records

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_owner_deletes_a_record_and_restores_it_from_its_history(new_page, alice, screenshots):
    r = records.create_record(alice, name="Krill survey", data={"tonnes": 12}, tags=["krill"])
    page = new_page(user=alice)
    page.goto(f"/kurrent-db-demo/records/{r.id}/")
    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name="Delete version 0").click()
    page.wait_for_url("**/kurrent-db-demo/")
    expect(page.locator("#record-results")).not_to_contain_text("Krill survey")

    page.goto(f"/kurrent-db-demo/records/{r.id}/")
    expect(page.get_by_text("This record was deleted.")).to_be_visible()
    timeline = page.locator("ol.timeline > li")
    expect(timeline.first).to_contain_text("StreamDeleted")
    page.screenshot(path=str(screenshots / "restore-deleted.png"), full_page=True)
    timeline.first.get_by_role("button", name="Restore from here").click()

    page.wait_for_url(re.compile(rf"/records/{r.id}/$"))
    expect(page.get_by_text("This record was deleted.")).to_have_count(0)
    expect(timeline).to_have_count(3)
    expect(timeline.first).to_contain_text("StreamRestored")
    expect(timeline.first).to_contain_text("v2")
    page.goto("/kurrent-db-demo/")
    expect(page.locator("#record-results")).to_contain_text("Krill survey")
    assert not records.get_record(alice, r.id).deleted
    assert page.errors == []
