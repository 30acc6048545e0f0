"""The status cards' sparklines in a real browser: drawn, named, and redrawn by the poll."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from kurrent.connection.history import history

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sparklines_are_there_and_follow_the_poll(new_page, alice):
    history.clear()
    page = new_page(user=alice)
    card = page.locator("#status-dev")
    latency = card.locator('svg[data-spark="latency"]')
    calls = card.locator('svg[data-spark="calls"]')
    expect(latency).to_be_visible()
    expect(calls).to_be_visible()
    expect(latency).to_have_attribute("role", "img")
    # The text alternative names what the line shows.
    expect(card.locator("title#spark-dev-latency")).to_contain_text(
        "Probe latency, the last 15 minutes"
    )
    expect(card.locator("title#spark-dev-calls")).to_contain_text("Calls, the last 15 minutes")
    first = card.locator("title#spark-dev-calls").text_content()

    # Every probe (each sync interval, 1 s here) is a call: the next polls redraw it.
    expect(card.locator("title#spark-dev-calls")).not_to_have_text(first, timeout=10_000)
    expect(latency.locator("polyline, circle").first).to_be_attached(timeout=10_000)
    assert page.errors == []


def test_the_status_page_draws_operations_and_events(new_page, alice):
    from kurrent.services import records

    records.create_record(alice, name="Counted", data={}, is_public=True)
    page = new_page(user=alice)
    page.goto("/kurrent-db-demo/status/")
    details = page.locator("#details-dev")
    expect(details.locator('svg[data-chart="events"] rect')).to_have_count(60)
    expect(details.locator("table")).to_contain_text("append")
    expect(details.locator("th", has_text="p95")).to_be_visible()
    assert page.errors == []
