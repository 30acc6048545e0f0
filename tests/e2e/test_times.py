"""Relative times in the kept fragments (kurrent.web.fragments) are worded by the browser:
the HTML carries the moment, base.js says "just now" / "42 s ago", also after a swap."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.kurrent.viewtools import record

pytestmark = pytest.mark.django_db(transaction=True)
RELATIVE = re.compile(r"^(just now|\d+ s ago|\d+ min ago)$")


def test_list_and_feed_times_are_relative_in_the_browser(new_page, alice):
    record(alice, name="Gentoo colony", is_public=True)
    page = new_page(user=alice)
    listed = page.locator("#record-results time[data-ago]").first
    expect(listed).to_have_text(RELATIVE)
    expect(listed).to_have_attribute("title", re.compile(r" UTC$"))  # the moment, on hover
    expect(page.locator("#activity-feed time[data-ago]").first).to_have_text(RELATIVE)
    # A search swaps the list in: its times are worded too.
    page.get_by_label("Search names, tags and data").press_sequentially("gentoo", delay=30)
    expect(page).to_have_url(re.compile(r"q=gentoo"))
    expect(page.locator("#record-results time[data-ago]").first).to_have_text(RELATIVE)
    assert page.errors == []
