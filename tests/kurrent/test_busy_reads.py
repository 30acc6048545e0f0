"""KURRENTDB_MAX_CONCURRENT_STREAMS covers the long reads users start (issue 12, point 7):
the event browser, a record's history, its versions and diffs, and exports. With the
limit at 1 and the one slot taken, each answers "busy" at once: a 503 with Retry-After.
Once the slot is free they work, and they give their own slot back."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest

from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentBusy
from kurrent.ops import backup
from tests.kurrent.viewtools import record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]

AT_ONCE_S = 1.0  # "at once": no waiting for a slot (the timeout here is 5 s)


@pytest.fixture
def one_slot(settings: Any) -> None:
    settings.KURRENTDB_MAX_CONCURRENT_STREAMS = 1
    settings.KURRENTDB_TIMEOUT_MS = 5000
    connections.reset()  # the limit is read when an environment's state is made


def user_reads(record_id: str) -> list[str]:
    base = f"/kurrent-db-demo/records/{record_id}"
    return [
        "/kurrent-db-demo/events/",
        f"/kurrent-db-demo/events/?stream=pool-{record_id}",
        f"{base}/",
        f"{base}/v/0/",
        f"{base}/diff/?from_version=0&to_version=0",
    ]


@pytest.mark.parametrize("htmx", [False, True])
def test_past_the_limit_a_user_read_is_busy_at_once(client, admin_user, one_slot, htmx):
    r = record(admin_user, is_public=True)
    client.force_login(admin_user)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    with connections.stream_slot("dev"):  # someone else's long read holds the one slot
        for url in user_reads(r.id):
            started = time.monotonic()
            response = client.get(url, **headers)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (url, response.status_code)
            assert response["Retry-After"].isdigit(), url
            assert "busy" in response.content.decode().lower(), url
            assert "try again in a moment" in response.content.decode().lower(), url
            assert elapsed < AT_ONCE_S, (url, elapsed)


def test_once_the_slot_is_free_the_same_reads_work_and_give_it_back(client, admin_user, one_slot):
    r = record(admin_user, is_public=True)
    client.force_login(admin_user)
    for _ in range(2):  # a read that kept its slot would make the second round busy
        for url in user_reads(r.id):
            assert client.get(url).status_code == 200, url
    with connections.stream_slot("dev"):
        pass  # free: nothing kept it


def test_an_export_is_busy_past_the_limit(admin_user, one_slot):
    record(admin_user, is_public=True)
    selection = backup.Selection.build(None, None, None)
    with connections.stream_slot("dev"), pytest.raises(KurrentBusy):
        backup.export_events("dev", selection, io.StringIO())
    out = io.StringIO()
    assert backup.export_events("dev", selection, out).events == 1
    assert "StreamCreated" in out.getvalue()


def test_the_busy_page_names_no_host_or_port(client, carol, admin_user, one_slot, kdb):
    r = record(admin_user, is_public=True)
    client.force_login(carol)
    with connections.stream_slot("dev"):
        response = client.get(f"/kurrent-db-demo/records/{r.id}/")
    assert response.status_code == 503
    host_port = kdb.url.split("://", 1)[1].split("?", 1)[0]
    assert host_port not in response.content.decode()
