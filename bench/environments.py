#!/usr/bin/env python
"""Outage timings of issue 16 with the default settings (5 s sync interval, 5 s timeout).

    .venv/bin/python bench/environments.py [--rounds 3] [--events 2000] [--sync-ms 5000]

Sets up a throwaway site (SQLite read model), three embedded nodes in their own processes
(dev, staging, test; database files), one live projector process and gunicorn (1 worker,
4 threads), then measures:

    node back     staging's node killed, seen down, started again: seconds until
                  /kurrent/health says connected (target: within two sync intervals)
    hung node     staging's node stopped with SIGSTOP (it accepts and never answers):
                  the dashboard and status page times while it hangs, and each write
                  to staging once it is seen down
    catch-up      the projector stopped, N events written to staging, the projector
                  started again: seconds until the read model has them all; and the
                  same after a node restart while the projector runs

and prints median, p95 and max of each.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from kurrentdbclient import KurrentDBClient, NewEvent, StreamState  # noqa: E402

from kurrent.embedded import NodeProcess  # noqa: E402
from tests.live import Browser, Site, form_fields, free_port  # noqa: E402

PASSWORD = "bench-password-not-secret-1"
PROJECTOR = (
    "from django.core.management import call_command\ncall_command('kurrent_projector', '--live')\n"
)
ENVS = ("dev", "staging", "test")


def figures(values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    ordered = sorted(v * scale for v in values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered):.2f} {unit}, p95 {p95:.2f} {unit}, "
        f"max {ordered[-1]:.2f} {unit} (n={len(ordered)})"
    )


def wait_until(condition: Any, timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout:.0f} s")
        time.sleep(0.02)
    return time.monotonic() - started


class Bench:
    def __init__(self, folder: Path, sync_ms: int) -> None:
        self.folder = folder
        self.ports = {env: free_port() for env in ENVS}
        urls = {f"KURRENTDB_{e.upper()}_URL": self.url(e) for e in ENVS}
        self.site = Site(
            folder,
            KURRENTDB_SYNC_INTERVAL=str(sync_ms),
            KURRENTDB_TIMEOUT="5000",
            KURRENTDB_MAX_RETRIES="5",
            **urls,
        )
        self.nodes: dict[str, NodeProcess] = {}

    def url(self, env: str) -> str:
        return f"kurrentdb://127.0.0.1:{self.ports[env]}?Tls=false"

    def start(self, env: str) -> None:
        db = self.folder / f"node-{env}.sqlite3"
        self.nodes[env] = NodeProcess(db=str(db), port=self.ports[env], insecure=True).start()

    def write(self, env: str, count: int) -> None:
        client = KurrentDBClient(uri=self.url(env))
        try:
            for _ in range(count):
                record_id = str(uuid.uuid4())
                body = {
                    "record_id": record_id,
                    "name": f"bench {record_id[:8]}",
                    "data": {},
                    "tags": [],
                    "owner_id": 1,
                    "owner": "bench",
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

    def applied(self, env: str) -> int:
        conn = sqlite3.connect(f"file:{self.folder / 'site.sqlite3'}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT events_applied FROM kurrent_projectioncheckpoint WHERE env = ?", (env,)
            ).fetchone()
            return row[0] if row else 0
        finally:
            conn.close()


def state(browser: Browser, env: str) -> str:
    return json.loads(browser.get("/kurrent/health").body)["environments"][env]["state"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--sync-ms", type=int, default=5000)
    args = parser.parse_args()
    sync_s = args.sync_ms / 1000
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), args.sync_ms)
        bench.site.manage("migrate", "--no-input", "-v", "0")
        bench.site.manage("collectstatic", "--no-input", "-v", "0")
        bench.site.add_users({"admin": "admin"}, PASSWORD)
        for env in ENVS:
            bench.start(env)
        try:
            run(bench, args, sync_s)
        finally:
            for node in bench.nodes.values():
                node.kill()


def run(bench: Bench, args: argparse.Namespace, sync_s: float) -> None:
    site = bench.site
    with site.gunicorn(workers=1, threads=4) as server:
        admin = Browser(server.base_url)
        admin.login("admin", PASSWORD)
        with site.process(PROJECTOR, "projector"):
            outages(bench, admin, args, sync_s)
        # Catch-up after the projector restarts (the one above has stopped).
        before = bench.applied("staging")
        bench.write("staging", args.events)
        started = time.monotonic()
        with site.process(PROJECTOR, "projector"):
            wait_until(lambda: bench.applied("staging") >= before + args.events, 600)
            took = time.monotonic() - started
            print(
                f"catch-up after a projector restart: {args.events} events in {took:.2f} s "
                f"({args.events / took:.0f} events/s, the process's start included)"
            )
            # Catch-up after a node restart, the projector running.
            bench.nodes["staging"].kill()
            wait_until(lambda: state(admin, "staging") == "down", 60)
            bench.start("staging")
            before = bench.applied("staging")
            restarted = time.monotonic()
            bench.write("staging", 100)
            wait_until(lambda: bench.applied("staging") >= before + 100, 120)
            print(
                "node restart -> 100 events written right after applied: "
                f"{time.monotonic() - restarted:.2f} s (writing included)"
            )


def outages(bench: Bench, admin: Browser, args: argparse.Namespace, sync_s: float) -> None:
    wait_until(lambda: all(state(admin, e) == "connected" for e in ENVS), 60)
    print(f"sync interval {sync_s:g} s, timeout 5 s")
    back = []
    for _ in range(args.rounds):
        bench.nodes["staging"].kill()
        wait_until(lambda: state(admin, "staging") == "down", 60)
        time.sleep(sync_s)  # a spell of outage, as a person would leave it
        bench.start("staging")
        back.append(wait_until(lambda: state(admin, "staging") == "connected", 60))
    print(f"node back -> shown connected: {figures(back)}")

    admin.post("/kurrent-db-demo/env/", {"env": "staging", "next": "/kurrent-db-demo/"})
    os.kill(bench.nodes["staging"].pid, signal.SIGSTOP)
    try:
        pages: list[float] = []
        hung = time.monotonic()
        seen_down = None
        while time.monotonic() - hung < 3 * sync_s:
            for path in ("/kurrent-db-demo/", "/kurrent-db-demo/status/"):
                started = time.monotonic()
                admin.get(path)
                pages.append(time.monotonic() - started)
            if seen_down is None and state(admin, "staging") == "down":
                seen_down = time.monotonic() - hung
        print(f"hung node: page times {figures(pages, 'ms', 1000)}")
        print(f"hung node: shown down after {seen_down if seen_down is not None else -1:.2f} s")
        writes = []
        for n in range(5):
            form = form_fields(admin.get("/kurrent-db-demo/records/new/").text)
            started = time.monotonic()
            admin.post(
                "/kurrent-db-demo/records/new/",
                {"name": f"hung {n}", "data": "{}", "tags": "", **form},
            )
            writes.append(time.monotonic() - started)
        print(f"hung node: writes refused in {figures(writes, 'ms', 1000)}")
    finally:
        os.kill(bench.nodes["staging"].pid, signal.SIGCONT)
    resumed = wait_until(lambda: state(admin, "staging") == "connected", 60)
    print(f"hung node resumed -> shown connected: {resumed:.2f} s")


if __name__ == "__main__":
    main()
