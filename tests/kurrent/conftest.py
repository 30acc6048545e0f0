"""Fixtures of the record, user-data, projector and search tests.

`kdb`: a fresh in-memory embedded node for one test (it starts in milliseconds), with
`dev` pointed at it and active. A fresh node per test keeps the read model of one test
free of another test's events: the projector replays all of $all from its checkpoint,
and every test starts with an empty read model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kurrent.connection.manager import connections
from tests.conftest import point_env_at


@pytest.fixture
def kdb(settings: Any) -> Iterator[Any]:
    from kurrent.embedded import EmbeddedNode

    node = EmbeddedNode(db=":memory:", host="127.0.0.1", port=0, insecure=True).start()
    settings.KURRENTDB_ENABLED = True
    settings.KURRENTDB_ENVIRONMENT = "dev"
    point_env_at(settings, "dev", node.url)
    try:
        yield node
    finally:
        connections.reset()
        node.stop()


@pytest.fixture
def raw_client(kdb: Any) -> Iterator[Any]:
    """A plain kurrentdbclient on the test's node: "another process" writing or reading."""
    from kurrentdbclient import KurrentDBClient

    client = KurrentDBClient(uri=kdb.url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def our_events(raw_client: Any) -> Any:
    """A function returning every event of our streams in $all, as the client sees them."""
    from kurrent.core.events import STREAM_PREFIXES

    def read() -> list[Any]:
        return list(
            raw_client.read_all(
                filter_include=STREAM_PREFIXES, filter_by_stream_name=True, filter_by_prefix=True
            )
        )

    return read
