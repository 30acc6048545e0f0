"""An append that times out may have landed (issue 12, point 5): the form says that the
change may have been saved and will appear if it was, never "nothing was saved"; a node
that refuses the connection still means nothing was saved.

A real node process, paused with SIGSTOP: it accepts the connection and answers nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kurrentdbclient import KurrentDBClient

from kurrent.connection.manager import connections
from kurrent.core.events import record_stream
from kurrent.embedded import NodeProcess
from kurrent.readmodel import projector
from kurrent.services import records
from tests.conftest import point_env_at

pytestmark = pytest.mark.django_db

DASH = "/kurrent-db-demo"


@pytest.fixture
def node(settings: Any) -> Iterator[NodeProcess]:
    process = NodeProcess(db=":memory:", port=0, insecure=True).start()
    settings.KURRENTDB_ENABLED = True
    settings.KURRENTDB_ENVIRONMENT = "dev"
    settings.KURRENTDB_TIMEOUT_MS = 1000
    settings.KURRENTDB_MAX_RETRIES = 0
    # The health probe answers from what it last saw for a minute, so the form is not
    # blocked before the append is tried (what a write made right as the node hangs sees).
    settings.KURRENTDB_SYNC_INTERVAL_MS = 60_000
    point_env_at(settings, "dev", process.url)
    try:
        yield process
    finally:
        connections.reset()
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid or 0, signal.SIGCONT)
        process.kill()


def edit(client: Any, record: Any, name: str, htmx: bool) -> Any:
    form = {
        "name": name,
        "data": "{}",
        "tags": "",
        "expected_version": str(record.version),
        "idempotency_key": str(uuid.uuid4()),
    }
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(f"{DASH}/records/{record.id}/edit/", form, **headers)


@pytest.mark.parametrize("htmx", [False, True])
def test_a_timed_out_edit_may_have_been_saved(client, alice, node, htmx):
    record = records.create_record(alice, name="Before", data={}, is_public=True)
    client.force_login(alice)
    assert connections.health("dev").state == "connected"
    assert node.pid is not None
    os.kill(node.pid, signal.SIGSTOP)
    try:
        response = edit(client, record, "After", htmx)
    finally:
        os.kill(node.pid, signal.SIGCONT)
    body = response.content.decode()
    assert response.status_code == (200 if htmx else 503)
    assert "may have been saved" in body
    assert "will appear here" in body
    assert "nothing was saved" not in body.lower()

    # Once the read model has what KurrentDB holds, the page shows it, whichever it was.
    connections.reset()
    projector.catch_up("dev")
    raw = KurrentDBClient(uri=node.url)
    try:
        landed = len(raw.get_stream(record_stream(record.id))) == 2
    finally:
        raw.close()
    page = client.get(f"{DASH}/records/{record.id}/").content.decode()
    assert ("After" in page) == landed


def test_a_refused_connection_means_nothing_was_saved(client, alice, node):
    record = records.create_record(alice, name="Before", data={}, is_public=True)
    client.force_login(alice)
    assert connections.health("dev").state == "connected"
    node.kill()
    response = edit(client, record, "After", htmx=False)
    body = response.content.decode()
    assert response.status_code == 503
    assert "nothing was saved" in body
    assert "may have been saved" not in body
