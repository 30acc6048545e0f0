"""The event browser with a `$all` position where no event starts (a hand-edited `?pos=`).

KurrentDB 24.10+ refuses such reads (InvalidPosition), and so does the embedded node, whose
positions are log offsets as KurrentDB's: the page says so instead of answering 500."""

from __future__ import annotations

import pytest

from tests.kurrent.viewtools import record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/events/"


@pytest.mark.parametrize("go", ["after", "before"])
@pytest.mark.parametrize("system", ["", "on"])
def test_a_position_between_events_is_a_message_not_an_error(client, alice, admin_user, go, system):
    record(alice, name="One")
    record(alice, name="Two")
    client.force_login(admin_user)
    first = min(e.position for e in client.get(URL).context["browse"].events)
    response = client.get(URL, {"go": go, "pos": first + 1, "system": system})
    assert response.status_code == 200
    assert response.context["error"] == f"There is no event at position {first + 1} in $all."
    # Positions the page itself links to still work.
    assert client.get(URL, {"go": go, "pos": first, "system": system}).status_code == 200
