"""Three environments in a real browser (issue 16, point 6): an admin switches the
environment and sees each one's data, and each card its own size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from kurrent.connection.manager import connections
from kurrent.services import records
from tests.conftest import point_env_at

pytestmark = pytest.mark.django_db(transaction=True)
DASHBOARD = "/kurrent-db-demo/"
ENVS = ("dev", "staging", "test")


@pytest.fixture
def three(node: Any, settings: Any) -> Iterator[dict[str, Any]]:
    """dev on the e2e node, staging and test on nodes of their own."""
    from kurrent.embedded import EmbeddedNode

    more = {
        env: EmbeddedNode(db=":memory:", host="127.0.0.1", port=0, insecure=True).start()
        for env in ("staging", "test")
    }
    for env, extra in more.items():
        point_env_at(settings, env, extra.url)
    try:
        yield {"dev": node, **more}
    finally:
        connections.reset()
        for extra in more.values():
            extra.stop()


def test_switching_environment_shows_each_ones_data(new_page, admin_user, three, screenshots):
    for env in ENVS:
        for n in range(ENVS.index(env) + 1):  # dev 1 record, staging 2, test 3
            records.create_record(
                admin_user, name=f"{env} colony {n}", data={}, is_public=True, env=env
            )
    page = new_page(user=admin_user)
    for env in ("dev", "staging", "test", "dev"):
        if env != "dev" or page.locator("#env-switch").input_value() != "dev":
            page.locator("#env-switch").select_option(env)
            page.get_by_role("button", name="Switch").click()
            expect(page.get_by_role("status").first).to_contain_text(
                f"Now showing the {env} environment"
            )
        results = page.locator("#record-results")
        expect(results).to_contain_text(f"{env} colony 0")
        for other in ENVS:
            if other != env:
                expect(results).not_to_contain_text(f"{other} colony")
        expect(page.locator(f"#status-{env}")).to_have_class("status-card is-shown")
        page.screenshot(path=str(screenshots / f"environments-{env}.png"))
    for env in ENVS:  # every card its own size, side by side
        count = ENVS.index(env) + 1
        expect(page.locator(f"#status-{env} [data-size=records]")).to_have_text(
            f"{count} record{'s' if count > 1 else ''}"
        )
    assert page.errors == []
