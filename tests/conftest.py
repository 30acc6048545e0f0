"""Shared fixtures: a real embedded KurrentDB node, settings pointing at it, users by role.

- `kurrent_node`: one in-memory embedded node for the whole session (gRPC on a free port).
- `kurrent_dev`: points the `dev` environment at that node for one test and resets the
  connection manager before and after. Add `pytestmark = pytest.mark.usefixtures("kurrent_dev")`
  to a module to make it autouse there.
- `point_env_at(settings, env, url, ...)`: the same for any environment and URL.
- `alice`, `bob` (editors), `carol` (viewer), `admin_user` (admin group).
- `assert_no_secrets(*texts)`: fails if a configured KurrentDB password (or any extra
  secret given) appears in health output, logs, messages or rendered pages.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kurrent.connection.manager import connections
from kurrent.services.roles import ADMIN, EDITOR, VIEWER

PASSWORD = "pw-for-tests-only-1"


def point_env_at(settings: Any, env: str, url: str, **profile: str) -> None:
    """Make `env` connect to `url` (with optional username/password/ca_file) from now on."""
    profiles = copy.deepcopy(settings.KURRENTDB_PROFILES)
    profiles[env] = {"url": url, "username": "", "password": "", "ca_file": "", **profile}
    settings.KURRENTDB_PROFILES = profiles
    connections.reset()


@pytest.fixture(scope="session")
def kurrent_node() -> Iterator[Any]:
    from kurrent.embedded import EmbeddedNode

    node = EmbeddedNode(db=":memory:", host="127.0.0.1", port=0, insecure=True).start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def kurrent_dev(kurrent_node: Any, settings: Any) -> Iterator[Any]:
    """The `dev` environment, active, on the session's embedded node."""
    settings.KURRENTDB_ENABLED = True
    settings.KURRENTDB_ENVIRONMENT = "dev"
    point_env_at(settings, "dev", kurrent_node.url)
    yield kurrent_node
    connections.reset()


@pytest.fixture
def assert_no_secrets(settings: Any) -> Callable[..., None]:
    def check(*texts: object, secrets: tuple[str, ...] = ()) -> None:
        known = [PASSWORD, *secrets]
        known += [p.get("password", "") for p in settings.KURRENTDB_PROFILES.values()]
        known = [s for s in known if s]
        for text in texts:
            rendered = text if isinstance(text, str) else repr(text)
            for secret in known:
                assert secret not in rendered, f"a password leaked into: {rendered[:300]!r}"

    return check


def _user(username: str, role: str | None, **extra: Any) -> Any:
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password=PASSWORD, **extra)
    if role:
        group, _ = Group.objects.get_or_create(name=role)
        user.groups.add(group)
    return user


@pytest.fixture
def alice(db: None) -> Any:
    return _user("alice", EDITOR)


@pytest.fixture
def bob(db: None) -> Any:
    return _user("bob", EDITOR)


@pytest.fixture
def carol(db: None) -> Any:
    return _user("carol", VIEWER)


@pytest.fixture
def admin_user(db: None) -> Any:
    return _user("admin", ADMIN)


@pytest.fixture(autouse=True)
def _fresh_user_cache() -> Iterator[None]:
    """Each test's users are new rows whose ids may repeat an earlier test's (rolled back)."""
    from accounts.backends import forget

    forget()
    yield
    forget()


@pytest.fixture(autouse=True)
def _fresh_web_caches() -> Iterator[None]:
    """What the web layer keeps across requests: this process's readings per environment
    (kurrent.ops.monitor) and the dashboard's read-model fragments (kurrent.web.fragments). Both are keyed by things that repeat from one test to the
    next (a node's URL, user ids, checkpoint positions) while what they name does not."""
    from kurrent.web import context, fragments

    def clear() -> None:
        context.forget_readings()
        fragments.clear()

    clear()
    yield
    clear()
