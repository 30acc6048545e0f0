"""The API's pages in a real browser: the interactive docs (swagger-ui from our own static
files) under the Content-Security-Policy, and the API tokens page from making a token to
using it. The new_page fixture fails a test on anything the policy refuses."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_docs_render_every_endpoint_from_our_own_files(new_page, app):
    page = new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/v1/docs")
    # swagger-ui is 1.5 MB of script: parsing it on a busy machine takes its time.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Penguin Pool", timeout=60_000)
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/records" in " ".join(paths)
    assert all(url.startswith(app) for url in requested), requested
    assert page.errors == []
    page.screenshot(path="artifacts/screenshots/api-docs.png")


def test_a_token_made_on_the_page_works_once_shown(new_page, app, alice):
    page = new_page(user=alice)
    page.goto("/kurrent-db-demo/tokens/")
    page.get_by_label("Name").fill("nightly export")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Make token").click()
    secret = page.locator("[data-new-token]").inner_text().strip()
    assert secret.startswith("ppk_")
    page.screenshot(path="artifacts/screenshots/api-token-made.png")
    me = urllib.request.Request(  # noqa: S310 (the live server on loopback)
        f"{app}/api/v1/me", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(me, timeout=10) as answer:  # noqa: S310
        assert json.load(answer)["token_scope"] == "read"
    page.goto("/kurrent-db-demo/tokens/")  # (a reload would post the form again)
    assert secret not in page.content()
    expect(page.get_by_role("cell", name="nightly export")).to_be_visible()
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("revoked", exact=True)).to_be_visible()
