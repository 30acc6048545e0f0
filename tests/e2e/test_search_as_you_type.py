"""Search as people type it, in a real browser: a word half typed past its stem, an
id's first 8 digits, a number, owners suggested, several tags, and Back."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from kurrent.services import records

pytestmark = pytest.mark.django_db(transaction=True)
DASHBOARD = "/kurrent-db-demo/"


def type_search(page, text: str) -> None:
    box = page.get_by_label("Search names, tags and data")
    box.fill("")
    box.press_sequentially(text, delay=40)
    expect(page).to_have_url(re.compile(r"q=" + re.escape(text.replace(" ", "+"))))


def result_names(page):
    return page.locator("#record-results .record-name")


def test_what_people_type_finds_it(new_page, alice, bob):
    ice = records.create_record(
        alice,
        name="Sea ice breaking up",
        data={"adults": 4217},
        tags=["ice", "survey"],
        is_public=True,
    )
    records.create_record(bob, name="Breeding season", data={}, tags=["ice"], is_public=True)
    page = new_page(user=bob)

    for typed in ("breaki", "breakin", ice.id[:8], "4217"):
        type_search(page, typed)
        expect(result_names(page)).to_have_count(1)
        expect(result_names(page).first).to_have_text("Sea ice breaking up")

    # Several tags at once: all must match.
    page.get_by_label("Search names, tags and data").fill("")
    page.locator("#id_tag").fill("ice survey")
    page.locator("#id_tag").press("Enter")
    expect(page).to_have_url(re.compile(r"tag=ice(\+|%20)survey"))
    expect(result_names(page)).to_have_count(1)
    assert page.errors == []


def test_owner_names_are_suggested_in_any_case(new_page, alice, bob):
    records.create_record(alice, name="Mine", data={}, is_public=True)
    page = new_page(user=bob)
    page.goto(DASHBOARD)

    page.locator("#id_owner").press_sequentially("AL", delay=40)

    expect(page.locator("#owner-suggestions option")).to_have_count(1)
    expect(page.locator("#owner-suggestions option")).to_have_attribute("value", "alice")
    page.locator("#id_owner").press_sequentially("ICE", delay=40)  # the name, in capitals
    page.locator("#id_owner").press("Enter")
    expect(page).to_have_url(re.compile(r"owner=ALICE"))
    expect(result_names(page)).to_have_text(["Mine"])
    assert page.errors == []


def test_back_restores_the_search_box_and_its_results(new_page, alice):
    records.create_record(alice, name="Krill swarm", data={}, is_public=True)
    records.create_record(alice, name="Krill larvae", data={}, is_public=True)
    records.create_record(alice, name="Orca pod", data={}, is_public=True)
    page = new_page(user=alice)
    page.goto(DASHBOARD)

    type_search(page, "krill")
    expect(result_names(page)).to_have_count(2)
    type_search(page, "orca")
    expect(result_names(page)).to_have_count(1)

    page.go_back()

    expect(page).to_have_url(re.compile(r"q=krill"))
    expect(page.get_by_label("Search names, tags and data")).to_have_value("krill")
    expect(result_names(page)).to_have_count(2)
    page.go_forward()
    expect(page.get_by_label("Search names, tags and data")).to_have_value("orca")
    expect(result_names(page)).to_have_count(1)
    assert page.errors == []
