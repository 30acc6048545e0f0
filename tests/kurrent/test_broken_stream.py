"""A broken stream breaks only itself (issue 12, point 4).

Another program writes to one record's stream what the client cannot take: an event of
18 MiB (the node here accepts up to 32 MiB, as a KurrentDB configured so would; the
client receives at most 17 MiB), and metadata such as {"$tb": 1e400}. Over real gRPC
the client then raises an error the app does not expect (RESOURCE_EXHAUSTED) for any
read that reaches that event. Then:

- that record's page says its stream cannot be read right now (its values from the read
  model still show); its version and diff pages are a 502 page that says what to do;
- other records' pages, the dashboard and the status page work; the environment stays
  connected, however often the broken record is opened or edited;
- erasing the owner works and tombstones the broken stream too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.exceptions import StreamIsDeletedError

from kurrent.connection.manager import connections
from kurrent.core.events import record_stream
from kurrent.services import records
from tests.conftest import point_env_at

pytestmark = pytest.mark.django_db

DASH = "/kurrent-db-demo"
TOO_BIG_FOR_THE_CLIENT = 18 * 1024 * 1024


@pytest.fixture
def node(settings: Any) -> Iterator[Any]:
    from kurrent.embedded import EmbeddedNode

    node = EmbeddedNode(
        db=":memory:", host="127.0.0.1", port=0, insecure=True, max_event_bytes=32 * 1024 * 1024
    ).start()
    settings.KURRENTDB_ENABLED = True
    settings.KURRENTDB_ENVIRONMENT = "dev"
    point_env_at(settings, "dev", node.url)
    try:
        yield node
    finally:
        connections.reset()
        node.stop()


@pytest.fixture
def broken(node: Any, alice: Any) -> Iterator[tuple[Any, Any]]:
    """(the broken record, a healthy one), both alice's and public."""
    bad = records.create_record(alice, name="Broken census", data={"n": 1}, is_public=True)
    good = records.create_record(alice, name="Healthy census", data={"n": 2}, is_public=True)
    raw = KurrentDBClient(uri=node.url)
    try:
        stream = record_stream(bad.id)
        raw.set_stream_metadata(stream, metadata={"$tb": 1e400})
        big = NewEvent(type="Blob", data=b"x" * TOO_BIG_FOR_THE_CLIENT)
        raw.append_to_stream(stream, events=big, current_version=StreamState.ANY)
        yield bad, good
    finally:
        raw.close()


def signed_in(client: Any, user: Any) -> Any:
    client.raise_request_exception = False
    client.force_login(user)
    return client


def assert_connected() -> None:
    """Not marked down. (Degraded may happen: each probe reads $all's last event, here
    18 MiB, which a loaded machine can take longer than the "slow" threshold to send.)"""
    health = connections.health("dev")
    assert health.state in ("connected", "degraded"), health
    assert health.reconnect_attempts == 0


def test_the_broken_records_page_says_it_cannot_be_read(client, carol, broken):
    bad, _ = broken
    response = signed_in(client, carol).get(f"{DASH}/records/{bad.id}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Broken census" in body  # its values, from the read model
    assert "cannot read this record" in body
    assert_connected()


@pytest.mark.parametrize("page", ["v/0/", "diff/?from_version=0&to_version=0"])
def test_its_version_and_diff_pages_are_a_clear_502_or_a_message(client, carol, broken, page):
    bad, _ = broken
    response = signed_in(client, carol).get(f"{DASH}/records/{bad.id}/{page}")
    assert response.status_code in (200, 502)
    body = response.content.decode()
    assert "cannot" in body and "read" in body
    assert "Try again later" in body
    assert_connected()


def test_other_records_the_dashboard_and_the_status_page_work(client, carol, broken):
    bad, good = broken
    signed_in(client, carol)
    for _ in range(3):  # the broken one opened again and again
        assert client.get(f"{DASH}/records/{bad.id}/").status_code == 200
    response = client.get(f"{DASH}/records/{good.id}/")
    assert response.status_code == 200
    assert "StreamCreated" in response.content.decode()  # its history, read from its stream
    assert client.get(f"{DASH}/").status_code == 200
    status = client.get(f"{DASH}/status/")
    assert status.status_code == 200
    assert 'data-state="down"' not in status.content.decode()
    assert_connected()


def test_editing_the_broken_record_never_marks_the_environment_down(client, alice, broken):
    bad, good = broken
    signed_in(client, alice)
    for version in (1, 1, 0):  # its version is 1 (the blob); 0 is a conflict
        client.post(
            f"{DASH}/records/{bad.id}/edit/",
            {
                "name": f"Edited {version}",
                "data": "{}",
                "tags": "",
                "expected_version": str(version),
                "idempotency_key": str(uuid.uuid4()),
            },
        )
        assert_connected()
    response = client.post(
        f"{DASH}/records/{good.id}/edit/",
        {
            "name": "Healthy, edited",
            "data": "{}",
            "tags": "",
            "expected_version": "0",
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 302
    assert_connected()


def test_erasing_the_owner_works_and_tombstones_the_broken_stream(
    client, admin_user, alice, broken, node
):
    bad, good = broken
    response = signed_in(client, admin_user).post(
        f"{DASH}/users/{alice.pk}/erase/", {"confirm_username": "alice"}
    )
    assert response.status_code == 302, response.content[:500]
    raw = KurrentDBClient(uri=node.url)
    try:
        for record in (bad, good):
            with pytest.raises(StreamIsDeletedError):
                raw.get_stream(record_stream(record.id))
    finally:
        raw.close()
    assert_connected()
