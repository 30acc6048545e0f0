"""The live projector follows every configured environment, each by itself (issue 16).

Three embedded nodes serve dev, staging and test; a plain kurrentdbclient writes to each
as another program would. The command runs on the main thread (where it installs its
signal handlers) and a helper thread does the writing and watching, then sends SIGTERM.
"""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from kurrentdbclient import KurrentDBClient
from kurrentdbclient.exceptions import KurrentDBClientError

from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentError, KurrentUnavailable
from kurrent.management.commands import kurrent_projector as command
from kurrent.models import ProjectionCheckpoint, ProjectorHeartbeat, StreamRecord
from kurrent.readmodel import projector
from tests.conftest import point_env_at
from tests.kurrent.readmodel import external_create, retrying

pytestmark = [pytest.mark.readmodel]

ENVS = ("dev", "staging", "test")


@pytest.fixture
def nodes(settings: Any) -> Iterator[dict[str, Any]]:
    """An in-memory embedded node for each of dev, staging and test; mainnet has none."""
    from kurrent.embedded import EmbeddedNode

    started = {
        env: EmbeddedNode(db=":memory:", host="127.0.0.1", port=0, insecure=True).start()
        for env in ENVS
    }
    settings.KURRENTDB_ENABLED = True
    settings.KURRENTDB_ENVIRONMENT = "dev"
    for env, node in started.items():
        point_env_at(settings, env, node.url)
    point_env_at(settings, "mainnet", "")
    try:
        yield started
    finally:
        connections.reset()
        for node in started.values():
            node.stop()


@pytest.fixture
def clients(nodes: dict[str, Any]) -> Iterator[dict[str, KurrentDBClient]]:
    """A plain client per node: "another program" writing to that environment."""
    made = {env: KurrentDBClient(uri=node.url) for env, node in nodes.items()}
    try:
        yield made
    finally:
        for client in made.values():
            client.close()


def names_in(env: str) -> set[str]:
    return set(
        retrying(lambda: list(StreamRecord.objects.filter(env=env).values_list("name", flat=True)))
    )


def wait_for(expected: dict[str, set[str]], timeout: float = 15.0) -> dict[str, set[str]]:
    """Each environment's record names, once they are what is expected (or at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {env: names_in(env) for env in expected}
        if seen == expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


def run_live_command(*args: str, body: Callable[[], None]) -> str:
    """`manage.py kurrent_projector --live *args` on this (the main) thread while `body`
    runs on another; SIGTERM when `body` ends. Returns the command's output; re-raises
    what `body` raised."""
    out = io.StringIO()
    failure: list[BaseException] = []

    def drive() -> None:
        try:
            body()
        except BaseException as exc:  # re-raised on the test's thread below
            failure.append(exc)
        finally:
            connection.close()
            os.kill(os.getpid(), signal.SIGTERM)

    # A SIGTERM that arrives after the command has put back its handlers must not end pytest.
    guard = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        helper = threading.Thread(target=drive, name="test-writer")
        helper.start()
        call_command("kurrent_projector", "--live", *args, stdout=out)
        helper.join(timeout=60)
    finally:
        signal.signal(signal.SIGTERM, guard)
    if failure:
        raise failure[0]
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_every_configured_environment_is_followed_each_into_its_own_rows(nodes, clients, alice):
    """Writes to each node reach that environment's rows and no other's; once staging's
    node is stopped, dev and test keep following; SIGTERM ends the command cleanly."""
    assert command.configured_environments() == list(ENVS)
    written: dict[str, set[str]] = {env: set() for env in ENVS}
    seen: dict[str, dict[str, set[str]]] = {}

    def body() -> None:
        for env in ENVS:
            for n in range(2):
                name = f"{env} record {n}"
                external_create(clients[env], alice, name)
                written[env].add(name)
        seen["all up"] = wait_for({env: set(names) for env, names in written.items()})
        nodes["staging"].stop()
        for env in ("dev", "test"):
            external_create(clients[env], alice, f"{env} after staging stopped")
            written[env].add(f"{env} after staging stopped")
        seen["staging down"] = wait_for({env: set(written[env]) for env in ("dev", "test")})

    out = run_live_command(body=body)

    assert seen["all up"] == {
        "dev": {"dev record 0", "dev record 1"},
        "staging": {"staging record 0", "staging record 1"},
        "test": {"test record 0", "test record 1"},
    }
    assert seen["staging down"] == {
        "dev": {"dev record 0", "dev record 1", "dev after staging stopped"},
        "test": {"test record 0", "test record 1", "test after staging stopped"},
    }
    assert "Projector following dev, staging, test" in out
    assert "Projector stopped: dev at " in out and "test at " in out
    assert not any(t.name.startswith("projector-live-") for t in threading.enumerate())
    assert set(ProjectionCheckpoint.objects.values_list("env", flat=True)) == set(ENVS)


@pytest.mark.django_db(transaction=True)
def test_env_options_narrow_it_to_the_environments_named(nodes, clients, alice):
    seen: dict[str, set[str]] = {}

    def body() -> None:
        external_create(clients["staging"], alice, "staging: not followed")
        for env in ("dev", "test"):
            external_create(clients[env], alice, f"{env}: followed")
        # staging's event was written first: had it been followed, it would be in by now.
        found = wait_for({"dev": {"dev: followed"}, "test": {"test: followed"}})
        seen.update(found, staging=names_in("staging"))

    out = run_live_command("--env", "dev", "--env", "test", body=body)

    assert seen == {"dev": {"dev: followed"}, "test": {"test: followed"}, "staging": set()}
    assert "Projector following dev, test (" in out
    assert not ProjectionCheckpoint.objects.filter(env="staging").exists()


@pytest.mark.django_db(transaction=True)
def test_follow_runs_one_thread_per_environment_that_closes_its_connection(nodes, monkeypatch):
    closed: list[str] = []

    def run(env: str, stop: threading.Event, *, idle_timeout: float) -> None:
        stop.wait(5)

    def close() -> None:
        closed.append(threading.current_thread().name)
        connection.close()  # the thread's own: django.db.connection is per thread

    stop = threading.Event()
    monkeypatch.setattr(command, "connection", SimpleNamespace(close=close))
    threads = command.follow(["dev", "test"], stop, run=run)
    assert [t.name for t in threads] == ["projector-live-dev", "projector-live-test"]
    assert all(t.is_alive() for t in threads)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(closed) == ["projector-live-dev", "projector-live-test"]


@pytest.mark.django_db
def test_once_catches_up_every_configured_environment(nodes, clients, alice, capsys):
    for env in ENVS:
        external_create(clients[env], alice, f"{env} once")

    call_command("kurrent_projector", "--once")

    out = capsys.readouterr().out
    for env in ENVS:
        assert f"{env}: applied 1 event(s)" in out
        assert set(StreamRecord.objects.filter(env=env).values_list("name", flat=True)) == {
            f"{env} once"
        }


@pytest.mark.django_db
def test_once_reports_an_environment_that_is_down_after_catching_up_the_others(
    nodes, clients, alice, capsys
):
    external_create(clients["test"], alice, "test once")
    nodes["staging"].stop()

    with pytest.raises(CommandError, match="staging"):
        call_command("kurrent_projector", "--once")

    assert "test: applied 1 event(s)" in capsys.readouterr().out
    assert StreamRecord.objects.filter(env="test").count() == 1


@pytest.mark.django_db
def test_an_environment_named_but_not_configured_is_refused(nodes):
    with pytest.raises(CommandError, match="mainnet has no KurrentDB: set KURRENTDB_MAINNET_URL"):
        call_command("kurrent_projector", "--once", "--env", "mainnet")


@pytest.mark.django_db(transaction=True)
def test_follow_reports_the_subscription_once_the_node_confirms_it(nodes, settings):
    """What lets run_live reset its backoff: called once subscribed, never when the node
    cannot be reached."""
    subscribed = threading.Event()
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            projector._follow("dev", stop, 0.1, subscribed.set)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    live = threading.Thread(target=run)
    live.start()
    try:
        assert subscribed.wait(10)
    finally:
        stop.set()
        live.join(timeout=10)
    assert errors == [] and not live.is_alive()

    settings.KURRENTDB_TIMEOUT_MS = 1000
    connections.reset()
    nodes["staging"].stop()
    said: list[str] = []
    with pytest.raises((KurrentError, KurrentDBClientError)):
        projector._follow("staging", threading.Event(), 0.1, lambda: said.append("subscribed"))
    assert said == []


# --- backoff ---------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_with_jitter_and_resets():
    low = projector.Backoff(first=0.5, cap=30.0, rand=lambda: 0.0)
    assert [low.next() for _ in range(8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    high = projector.Backoff(first=0.5, cap=30.0, rand=lambda: 1.0)
    assert [high.next() for _ in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    high.reset()
    assert high.next() == 0.5
    pauses = [projector.Backoff().next() for _ in range(200)]
    assert all(0.25 <= p <= 0.5 for p in pauses)
    assert len(set(pauses)) > 1  # jittered, not one fixed value


class RecordingStop(threading.Event):
    """A stop event whose waits return at once and are recorded; set after `waits` waits."""

    def __init__(self, waits: int) -> None:
        super().__init__()
        self.pauses: list[float] = []
        self.waits = waits

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout or 0.0)
        if len(self.pauses) >= self.waits:
            self.set()
        return self.is_set()


@pytest.mark.django_db  # run_live beats (kurrent.readmodel.heartbeat) between tries
def test_after_a_reconnect_the_next_outage_starts_at_the_shortest_pause(monkeypatch):
    """Three failed catch-ups, then a subscription that is confirmed and later drops, then
    two more failures: the pause after the drop is the first one again, not the fourth."""
    script = ["down", "down", "down", "subscribed", "down", "down"]

    def catch_up(env: str, **_: Any) -> int:
        if script[0] == "down":
            script.pop(0)
            raise KurrentUnavailable("KurrentDB dev is unreachable")
        return 0

    def follow(env: str, stop: Any, idle_timeout: float, on_subscribed: Any, **_: Any) -> None:
        script.pop(0)
        on_subscribed()
        raise KurrentUnavailable("the subscription dropped")

    monkeypatch.setattr(projector, "catch_up", catch_up)
    monkeypatch.setattr(projector, "_follow", follow)
    monkeypatch.setattr(projector.random, "random", lambda: 1.0)  # the top of the jitter
    stop = RecordingStop(waits=6)

    projector.run_live("dev", stop)

    assert stop.pauses == [0.5, 1.0, 2.0, 0.5, 1.0, 2.0]
    beat = ProjectorHeartbeat.objects.get(env="dev")  # it said why it waits
    assert (beat.following, beat.problem) == (False, "KurrentDB dev is unreachable")


@pytest.mark.django_db
def test_the_pause_never_exceeds_the_cap_the_sync_interval(monkeypatch, settings):
    settings.KURRENTDB_SYNC_INTERVAL_MS = 4000

    def catch_up(env: str, **_: Any) -> int:
        raise KurrentUnavailable("KurrentDB dev is unreachable")

    monkeypatch.setattr(projector, "catch_up", catch_up)
    stop = RecordingStop(waits=20)

    projector.run_live("dev", stop)

    assert max(stop.pauses) <= 4.0
    assert stop.pauses[-1] >= 2.0
    settings.KURRENTDB_SYNC_INTERVAL_MS = 120_000
    assert projector.pause_cap_s() == 30.0  # never longer than PAUSE_CAP_S
