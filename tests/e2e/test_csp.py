"""The pages under their Content-Security-Policy in a real browser: what the policy
refuses is caught (the new_page fixture fails a test on any refusal), htmx adds no
style of its own, and the admin pages keep to the policy too."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from kurrent.services import records
from tests.conftest import _user

pytestmark = pytest.mark.django_db(transaction=True)
DASHBOARD = "/kurrent-db-demo/"


def test_the_policy_is_on_and_a_refusal_is_caught(new_page, alice):
    page = new_page(user=alice)
    response = page.goto(DASHBOARD)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "private" in response.headers["cache-control"]
    with pytest.raises(PlaywrightError, match="Content Security Policy"):
        page.add_script_tag(content="window.ppInline = true")  # an inline script: refused
    assert page.evaluate("window.ppInline === undefined")
    assert any("inline script" in text for text in page.csp_violations)
    page.csp_violations.clear()  # seen; the fixture checks that nothing else was refused


def test_htmx_runs_without_inline_style_or_eval(new_page, alice):
    page = new_page(user=alice)
    page.goto(DASHBOARD)
    expect(page.locator("#status-dev")).to_contain_text("Connected")
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    assert page.evaluate("htmx.config.allowEval") is False
    assert page.evaluate("document.querySelectorAll('style').length") == 0
    # The status panel still polls (every second in these tests) without a filter.
    with page.expect_response(lambda r: "/kurrent-db-demo/status/" in r.url):
        pass
    assert page.errors == []


def test_admin_pages_keep_to_the_policy(new_page, alice):
    records.create_record(alice, name="Census", data={"count": 1})
    page = new_page(user=_user("root", "admin", is_staff=True, is_superuser=True))
    for url in ("/admin/", "/admin/kurrent/streamrecord/", "/admin/auth/user/"):
        page.goto(url)
        expect(page.locator("#content")).to_be_visible()
    page.goto("/admin/kurrent/streamrecord/")
    page.get_by_role("link", name="Census").first.click()
    expect(page.locator("#event-history")).to_contain_text("StreamCreated")
    # The table's full width comes from static/css/admin.css now, not a style attribute.
    ratio = page.evaluate(
        "(t => t.getBoundingClientRect().width / t.parentElement.clientWidth)"
        "(document.getElementById('event-history'))"
    )
    assert ratio > 0.9
    assert page.errors == []
