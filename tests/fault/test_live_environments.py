"""Four live environments, three of them served (issue 16, point 6): three embedded nodes
(dev, staging, test) in their own processes, ONE live projector process
(`manage.py kurrent_projector --live`), the app under gunicorn, other programs writing
with a plain kurrentdbclient.

- writes to each node reach its own environment's rows within a second, never another's;
- staging's node stopped: dev and test keep following; only staging's card and health
  say down; started again, it is shown connected within two sync intervals and caught
  up with nothing missed or doubled;
- the projector stopped: the lag says "unknown" (no projector running) within the
  stated time (3 sync intervals, plus one for the reading);
- a node that hangs (SIGSTOP) neither slows the pages nor holds each write for a timeout.

The measured figures are printed (run with -s to see them).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
import uuid
from typing import Any

import pytest
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState

from kurrent.embedded import NodeProcess
from tests.fault.conftest import PASSWORD, FaultSite
from tests.live import Browser, Server, form_fields

ENVS = ("dev", "staging", "test")
SYNC_S = 0.5  # the Site's KURRENTDB_SYNC_INTERVAL
TIMEOUT_S = 2.0  # the Site's KURRENTDB_TIMEOUT
PROJECTOR = (
    "from django.core.management import call_command\ncall_command('kurrent_projector', '--live')\n"
)


class Envs:
    """Three nodes on fixed ports with database files (so a restart keeps the events)."""

    def __init__(self, fs: FaultSite) -> None:
        self.fs = fs
        self.ports = {"dev": fs.port, "staging": _port(), "test": _port()}
        self.nodes: dict[str, NodeProcess] = {}
        for env in ("staging", "test"):
            fs.site.env[f"KURRENTDB_{env.upper()}_URL"] = self.url(env)

    def url(self, env: str) -> str:
        return f"kurrentdb://127.0.0.1:{self.ports[env]}?Tls=false"

    def start(self, env: str) -> NodeProcess:
        db = self.fs.folder / f"node-{env}.sqlite3"
        self.nodes[env] = NodeProcess(db=str(db), port=self.ports[env], insecure=True).start()
        return self.nodes[env]

    def write(self, env: str, name: str) -> None:
        """A record created by another program, straight into `env`'s node."""
        client = KurrentDBClient(uri=self.url(env))
        try:
            record_id = str(uuid.uuid4())
            body = {
                "record_id": record_id,
                "name": name,
                "data": {},
                "tags": [],
                "owner_id": 1,
                "owner": "elsewhere",
                "is_public": True,
                "metadata": {},
            }
            client.append_to_stream(
                f"pool-{record_id}",
                events=[NewEvent(type="StreamCreated", data=json.dumps(body).encode())],
                current_version=StreamState.NO_STREAM,
            )
        finally:
            client.close()

    def names(self) -> dict[str, set[str]]:
        rows = self.fs.query("SELECT env, name FROM kurrent_streamrecord")
        found: dict[str, set[str]] = {env: set() for env in ENVS}
        for env, name in rows:
            found.setdefault(env, set()).add(name)
        return found

    def stop_all(self) -> None:
        for node in self.nodes.values():
            node.kill()


def _port() -> int:
    from tests.live import free_port

    return free_port()


@pytest.fixture
def envs(fault_site: FaultSite) -> Any:
    made = Envs(fault_site)
    for env in ENVS:
        made.start(env)
    try:
        yield made
    finally:
        made.stop_all()


def wait_until(condition: Any, timeout: float, what: str, server: Server | None = None) -> float:
    """Seconds until `condition()` is true; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            log = f"\n{server.log()}" if server is not None else ""
            raise AssertionError(f"{what}: not within {timeout:.1f} s{log}")
        time.sleep(0.02)
    return time.monotonic() - started


def health(browser: Browser) -> dict[str, Any]:
    return json.loads(browser.get("/kurrent/health").body)["environments"]


def states(browser: Browser) -> dict[str, str]:
    return {env: body["state"] for env, body in health(browser).items() if env in ENVS}


def card_states(browser: Browser) -> dict[str, str]:
    import re

    page = browser.get("/kurrent-db-demo/status/", headers={"HX-Request": "true"}).text
    return dict(re.findall(r'id="status-(\w+)"[^>]*data-state="([^"]+)"', page))


def signed_in(server: Server, user: str) -> Browser:
    browser = Browser(server.base_url)
    browser.login(user, PASSWORD)
    return browser


def test_three_environments_one_projector_each_on_its_own(envs, fault_site):
    fs = fault_site
    with (
        fs.site.gunicorn(workers=1, threads=4) as server,
        fs.site.process(PROJECTOR, "projector") as projector,
    ):
        watcher = signed_in(server, "watcher")
        up = dict.fromkeys(ENVS, "connected")
        wait_until(lambda: states(watcher) == up, 30, "all three connected", server)
        wait_until(
            lambda: all(health(watcher)[e]["projector"]["lag"] == "in sync" for e in ENVS),
            30,
            "the projector beating in every environment",
            projector,
        )

        # Writes reach their own environment within a second, and no other.
        written: dict[str, set[str]] = {env: set() for env in ENVS}
        delays = []
        for round_ in range(3):
            for env in ENVS:
                name = f"{env} record {round_}"
                envs.write(env, name)
                written[env].add(name)
                delays.append(
                    wait_until(lambda n=name, e=env: n in envs.names()[e], 10, name, projector)
                )
        assert envs.names() == written
        print(
            f"\nwrite -> own read model: median {statistics.median(delays) * 1000:.0f} ms, "
            f"max {max(delays) * 1000:.0f} ms over {len(delays)}"
        )
        assert statistics.median(delays) < 1.0 and max(delays) < 3.0, delays

        # staging's node stops: only staging goes down; dev and test keep following.
        envs.nodes["staging"].kill()
        down = wait_until(lambda: states(watcher)["staging"] == "down", 15, "staging down")
        assert states(watcher) == {**up, "staging": "down"}
        assert card_states(watcher) == {**up, "staging": "down", "mainnet": "not configured"}
        for env in ("dev", "test"):
            envs.write(env, f"{env} while staging is down")
            written[env].add(f"{env} while staging is down")
        wait_until(lambda: envs.names() == written, 10, "dev and test following", projector)
        print(f"staging down shown after {down:.2f} s")

        # Started again: connected within two sync intervals (plus the probe), caught up.
        envs.start("staging")
        back = wait_until(lambda: states(watcher)["staging"] == "connected", 15, "staging back")
        print(f"staging back shown connected after {back:.2f} s (sync interval {SYNC_S} s)")
        assert back <= 2 * SYNC_S + 0.5, back
        started = time.monotonic()
        for n in range(50):
            envs.write("staging", f"staging after restart {n}")
            written["staging"].add(f"staging after restart {n}")
        wait_until(lambda: envs.names() == written, 30, "staging caught up", projector)
        print(f"50 writes after the restart applied in {time.monotonic() - started:.2f} s")
        counts = dict(fs.query("SELECT env, COUNT(*) FROM kurrent_activity GROUP BY env"))
        applied = dict(fs.query("SELECT env, events_applied FROM kurrent_projectioncheckpoint"))
        for env in ENVS:  # nothing missed, nothing twice: one event per record, once each
            assert counts[env] == applied[env] == len(written[env]), (env, counts, applied)
        assert card_states(watcher) == {**up, "mainnet": "not configured"}

        # The projector stops: the lag turns "unknown" within the stated time.
        stopping = time.monotonic()
        projector.stop()  # SIGTERM; returns once the process has exited
        stopped = time.monotonic() - stopping
        stale = stopped + wait_until(
            lambda: all(health(watcher)[e]["projector"]["lag"] == "unknown" for e in ENVS),
            3 * SYNC_S + 2 * SYNC_S + 1.0,  # stale after 3 intervals; read once per interval
            "the lag unknown once the projector stopped",
        )
        body = health(watcher)
        assert {body[e]["projector"]["why"] for e in ENVS} == {"no projector running"}
        page = watcher.get("/kurrent-db-demo/status/", headers={"HX-Request": "true"}).text
        assert page.count("no projector running") >= 3
        print(f"projector stopped -> lag unknown after {stale:.2f} s ({stopped:.2f} s to exit)")


def test_a_hung_node_neither_slows_the_pages_nor_holds_every_write(envs, fault_site):
    fs = fault_site
    with (
        fs.site.gunicorn(workers=1, threads=4) as server,
        fs.site.process(PROJECTOR, "projector"),
    ):
        admin = signed_in(server, "admin1")
        wait_until(lambda: states(admin) == dict.fromkeys(ENVS, "connected"), 30, "all up")
        page = admin.get("/kurrent-db-demo/")
        switched = admin.post(
            "/kurrent-db-demo/env/", {"env": "staging", "next": "/kurrent-db-demo/"}
        )
        assert switched.status == 302 and page.status == 200

        os.kill(envs.nodes["staging"].pid, signal.SIGSTOP)  # it hangs: connected, silent
        try:
            hung = time.monotonic()
            pages = []
            for _ in range(30):
                started = time.monotonic()
                for path in ("/kurrent-db-demo/", "/kurrent-db-demo/status/"):
                    assert admin.get(path).status == 200
                pages.append(time.monotonic() - started)
                time.sleep(0.05)
            wait_until(lambda: states(admin)["staging"] == "down", 15, "the hang found")
            print(
                f"\nhung node: dashboard+status median {statistics.median(pages) * 1000:.0f} ms, "
                f"max {max(pages) * 1000:.0f} ms; shown down after {time.monotonic() - hung:.2f} s"
            )
            assert max(pages) < TIMEOUT_S / 2, pages  # none waited for the node

            writes = []
            for n in range(5):
                form = form_fields(admin.get("/kurrent-db-demo/records/new/").text)
                started = time.monotonic()
                answer = admin.post(
                    "/kurrent-db-demo/records/new/",
                    {
                        "name": f"while hung {n}",
                        "data": "{}",
                        "tags": "",
                        "idempotency_key": form.get("idempotency_key", str(uuid.uuid4())),
                    },
                )
                writes.append(time.monotonic() - started)
                assert answer.status == 503 and "unreachable right now" in answer.text
            print(f"writes refused in {', '.join(f'{w * 1000:.0f}' for w in writes)} ms")
            assert max(writes) < TIMEOUT_S / 2, writes
            assert states(admin)["dev"] == "connected"
        finally:
            os.kill(envs.nodes["staging"].pid, signal.SIGCONT)
        back = wait_until(lambda: states(admin)["staging"] == "connected", 15, "staging back")
        print(f"hung node resumed -> connected after {back:.2f} s")
