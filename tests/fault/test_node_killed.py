"""The node killed (SIGKILL) during a stream of writes from the web app, then restarted on
the same port and database file.

While it is down: no 500, every refused write tells the user the database is unreachable
and that nothing was saved, /kurrent/health answers 503 and the status panel shows
"down". Once it is back: the app reconnects by itself (no restart), resubmitting the
refused forms (same idempotency keys) creates each record exactly once, and the live
projector, which kept running, ends with every event applied once.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from kurrentdbclient import KurrentDBClient

from tests.fault.conftest import PASSWORD
from tests.live import Browser, Server

NEW = "/kurrent-db-demo/records/new/"
STATUS = "/kurrent-db-demo/status/"
PROJECTOR = "from kurrent.readmodel import projector\nprojector.run_live('dev')\n"


@dataclass
class Attempt:
    name: str
    key: str
    phase: str
    status: int
    location: str
    body: str


def create(browser: Browser, name: str, key: str) -> tuple[int, str, str]:
    response = browser.post(
        NEW,
        {
            "name": name,
            "data": json.dumps({"name": name}),
            "tags": "fault",
            "idempotency_key": key,
        },
    )
    return response.status, response.location, response.text


class Writer(threading.Thread):
    """Creates records one after another until stopped, noting every answer."""

    def __init__(self, browser: Browser) -> None:
        super().__init__(daemon=True)
        self.browser = browser
        self.phase = "before"
        self.attempts: list[Attempt] = []
        self.stop = threading.Event()
        self.crashed: BaseException | None = None

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                name, key = f"fault record {n}", str(uuid.uuid4())
                status, location, body = create(self.browser, name, key)
                self.attempts.append(Attempt(name, key, self.phase, status, location, body))
                time.sleep(0.02)
        except BaseException as exc:  # reported by the test
            self.crashed = exc

    def count(self, phase: str, status: int) -> int:
        return sum(1 for a in list(self.attempts) if a.phase == phase and a.status == status)


def wait_until(condition, timeout: float, what: str, pause: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(pause)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _health_says(browser: Browser, server: Server, status: int, state: str) -> bool:
    """One GET /kurrent/health: this HTTP status and this state of dev in its JSON."""
    response = browser.get("/kurrent/health")
    assert response.headers.get_content_type() == "application/json", (
        response.status,
        server.log(),
    )
    body = json.loads(response.body)
    return response.status == status and body["environments"]["dev"]["state"] == state


def our_events(url: str) -> list:
    client = KurrentDBClient(uri=url)
    try:
        return [
            e
            for e in client.read_all(
                filter_include=("pool-",), filter_by_stream_name=True, filter_by_prefix=True
            )
            if not e.type.startswith("$")
        ]
    finally:
        client.close()


def test_node_killed_during_writes_then_restarted(fault_site):
    fs = fault_site
    node = fs.start_node()
    with (
        fs.site.gunicorn(workers=2, threads=2) as server,
        fs.site.process(PROJECTOR, "projector") as projector,
    ):
        writer = Writer(Browser(server.base_url))
        writer.browser.login("writer", PASSWORD)
        watcher = Browser(server.base_url)
        watcher.login("watcher", PASSWORD)
        health = Browser(server.base_url)
        writer.start()
        try:
            wait_until(lambda: writer.count("before", 302) >= 5, 60, "writes to succeed")

            node.kill()  # SIGKILL: no goodbye to the clients
            writer.phase = "outage"
            wait_until(lambda: writer.count("outage", 503) >= 3, 60, "writes to be refused")
            # Each gunicorn worker answers from its own snapshot, refreshed in the background
            # when it is due: a worker may say "connected" once more before it has noticed.
            wait_until(
                lambda: _health_says(health, server, 503, "down"), 30, "health to say 503, down"
            )
            wait_until(
                lambda: (
                    'id="status-dev"' in (page := watcher.get(STATUS).text)
                    and _dev_state(page) == "down"
                ),
                30,
                "the status panel to show down",
            )

            fs.start_node()  # same port, same database file
            writer.phase = "after"
            wait_until(lambda: writer.count("after", 302) >= 3, 90, "writes to succeed again")
            wait_until(lambda: health.get("/kurrent/health").status == 200, 30, "health to say 200")
        finally:
            writer.stop.set()
            writer.join(30)
        assert writer.crashed is None, writer.crashed

        attempts = writer.attempts
        statuses = Counter(a.status for a in attempts)
        assert set(statuses) <= {302, 503}, (statuses, server.log())
        refused = [a for a in attempts if a.status == 503]
        for attempt in refused:
            assert "unreachable" in attempt.body, attempt.body[:2000]
            assert "nothing" in attempt.body and "saved" in attempt.body
            assert "Traceback" not in attempt.body

        # Pressing "create" again on each refused form creates it exactly once.
        for attempt in refused:
            deadline = time.monotonic() + 30
            while True:
                status, location, _ = create(writer.browser, attempt.name, attempt.key)
                if status == 302 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert status == 302, f"resubmitting {attempt.name} still fails: {status}"
            attempt.location = location

        created = [e for e in our_events(node.url) if e.type == "StreamCreated"]
        names = Counter(json.loads(e.data)["name"] for e in created)
        assert set(names) == {a.name for a in attempts}
        assert max(names.values()) == 1, [n for n, c in names.items() if c > 1]
        by_stream = {e.stream_name: json.loads(e.data)["name"] for e in created}
        for attempt in attempts:
            record_id = attempt.location.rstrip("/").rsplit("/", 1)[1]
            assert by_stream[f"pool-{record_id}"] == attempt.name

        # The live projector rode out the outage and applied every event once.
        events = our_events(node.url)
        head = events[-1].commit_position
        wait_until(
            lambda: (
                fs.query("SELECT position FROM kurrent_projectioncheckpoint WHERE env='dev'")
                == [(head,)]
            ),
            60,
            "the projector to catch up",
        )
        assert projector.process.poll() is None, projector.log()
        activity = [p for (p,) in fs.query("SELECT position FROM kurrent_activity WHERE env='dev'")]
        assert sorted(activity) == [e.commit_position for e in events]
        rows = fs.query("SELECT record_id, name, version FROM kurrent_streamrecord WHERE env='dev'")
        assert sorted((str(uuid.UUID(r)), n, v) for r, n, v in rows) == sorted(
            (e.stream_name.removeprefix("pool-"), by_stream[e.stream_name], 0) for e in created
        )


def _dev_state(page: str) -> str:
    start = page.index('id="status-dev"')
    tag_start = page.rindex("<article", 0, start)
    tag = page[tag_start : page.index(">", start)]
    return tag.split('data-state="', 1)[1].split('"', 1)[0]
