"""Abuse tests: hostile input, every role against every URL, CSRF, escaping, sign-in throttling.

`world` gives a fresh in-memory node (dev, active), one user per role plus the owner of a
public record and a public entry, and `position()`: the commit position of $all, compared
before and after a request to prove that nothing was appended.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kurrentdbclient import KurrentDBClient

from kurrent.connection.manager import connections
from kurrent.ops import endpoints
from kurrent.services import records, userdata
from kurrent.services.roles import ADMIN, EDITOR, VIEWER
from tests.conftest import point_env_at

PASSWORD = "abuse-tests-password-1"
ROLES = ("anonymous", "viewer", "editor", "admin")


@dataclass
class World:
    node: Any
    raw: KurrentDBClient
    users: dict[str, Any]  # role -> user ("owner" too: an editor who owns the samples)
    record: Any
    entry: Any

    def position(self) -> int:
        return self.raw.get_commit_position()

    def client_for(self, role: str, **kwargs: Any) -> Any:
        from django.test import Client

        client = Client(**kwargs)
        if role != "anonymous":
            client.force_login(self.users[role])
        return client


def make_user(username: str, role: str | None) -> Any:
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password=PASSWORD)
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def world(db: None, settings: Any) -> Iterator[World]:
    from kurrent.embedded import EmbeddedNode

    # Fast hashing: these tests create many users and sign in often.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    node = EmbeddedNode(db=":memory:", host="127.0.0.1", port=0, insecure=True).start()
    settings.KURRENTDB_ENABLED = True
    settings.KURRENTDB_ENVIRONMENT = "dev"
    settings.METRICS_TOKEN = ""
    point_env_at(settings, "dev", node.url)
    endpoints.snapshots.clear()
    raw = KurrentDBClient(uri=node.url)
    try:
        users = {
            "viewer": make_user("vera", VIEWER),
            "editor": make_user("eddie", EDITOR),
            "admin": make_user("ada", ADMIN),
            "owner": make_user("olga", EDITOR),
        }
        record = records.create_record(
            users["owner"], name="Sample record", data={"n": 1}, tags=["sample"], is_public=True
        )
        entry = userdata.store_entry(
            users["owner"], entry_type="profile", category="about", value={"a": 1}, is_public=True
        )
        yield World(node, raw, users, record, entry)
    finally:
        raw.close()
        endpoints.snapshots.clear()
        connections.reset()
        node.stop()
