"""Fixtures of the JSON API tests: a fresh node per test (`kdb`, as the record tests
use), users by role with a token each, and `api`, a client that speaks JSON with a
bearer token."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import Client

from kurrent.api import tokens
from kurrent.api.models import SCOPE_READ, SCOPE_READ_WRITE
from tests.kurrent.conftest import kdb, our_events, raw_client  # noqa: F401  (fixtures)


class Api:
    """Django's test client with `Authorization: Bearer` and JSON bodies."""

    def __init__(self, secret: str | None, client: Client | None = None) -> None:
        self.client = client or Client()
        self.secret = secret

    def _headers(self, headers: dict[str, str]) -> dict[str, str]:
        merged = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        merged.update(headers)
        return merged

    def get(self, path: str, params: Any = None, **headers: str) -> Any:
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def _send(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return getattr(self.client, method)(
            path, data, content_type="application/json", headers=self._headers(headers)
        )

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return self._send("post", path, {} if body is None else body, headers)

    def patch(self, path: str, body: Any = None, **headers: str) -> Any:
        return self._send("patch", path, {} if body is None else body, headers)

    def put(self, path: str, body: Any = None, **headers: str) -> Any:
        return self._send("put", path, {} if body is None else body, headers)

    def delete(self, path: str, **headers: str) -> Any:
        return self.client.delete(path, headers=self._headers(headers))


@pytest.fixture(autouse=True)
def _fresh_rate_counts() -> Iterator[None]:
    """The rate limit's counts live in the cache, keyed by token id, and ids repeat from
    one test to the next (each rolls its rows back)."""
    caches[settings.API_RATE_LIMIT_CACHE].clear()
    tokens.forget_tokens()  # kept per process by their hash; rows roll back per test
    yield
    caches[settings.API_RATE_LIMIT_CACHE].clear()
    tokens.forget_tokens()


@pytest.fixture
def token_for() -> Callable[..., str]:
    def make(user: Any, scope: str = SCOPE_READ_WRITE, **extra: Any) -> str:
        return tokens.create_token(user, name=f"{user.username} test", scope=scope, **extra).secret

    return make


@pytest.fixture
def api_as(token_for: Callable[..., str]) -> Callable[..., Api]:
    """api_as(user, scope="read-write") -> an Api client with a new token of theirs."""

    def make(user: Any, scope: str = SCOPE_READ_WRITE) -> Api:
        return Api(token_for(user, scope))

    return make


@pytest.fixture
def anonymous() -> Api:
    return Api(None)


__all__ = ["SCOPE_READ", "SCOPE_READ_WRITE", "Api"]
