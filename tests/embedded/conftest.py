"""Fixtures for the embedded node's tests: a real node over gRPC and the real client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kurrentdbclient import KurrentDBClient

from kurrent.embedded import EmbeddedNode


@pytest.fixture(scope="session")
def node() -> Iterator[EmbeddedNode]:
    """One insecure in-memory node for the embedded tests (each test uses fresh streams)."""
    with EmbeddedNode(db=":memory:", insecure=True) as running:
        yield running


@pytest.fixture(scope="session")
def client(node: EmbeddedNode) -> Iterator[KurrentDBClient]:
    db = KurrentDBClient(node.url)
    yield db
    db.close()


@pytest.fixture
def stream() -> str:
    """A stream name no other test uses."""
    return f"test-{uuid.uuid4().hex}"
