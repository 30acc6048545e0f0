#!/usr/bin/env python
"""Benchmark of the managed connections (kurrent.connection.manager).

    .venv/bin/python bench/connection.py [--calls 2000] [--dashboards 100]

Against one embedded node in its own process, in the same run:

1. call() overhead: `connections.call(...)` of a one-event read beside the same read on a
   plain kurrentdbclient, interleaved; median and p95 of each and the ratio of medians;
2. health() under load: N threads ("open dashboards") each asking health() 50 times;
   median and p95 per call and the number of probes that reached the node;
3. a stopped node: how long the first caller waits (bounded by KURRENTDB_TIMEOUT), and
   how long callers wait while the environment backs off (fail fast).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(label: str, samples_s: list[float]) -> str:
    ms = [s * 1000 for s in samples_s]
    return f"{label:<34} median {statistics.median(ms):8.3f} ms   p95 {pct(ms, 0.95):8.3f} ms"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--dashboards", type=int, default=100)
    args = parser.parse_args()

    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinpool.settings")
    os.environ["KURRENTDB_MAX_RETRIES"] = "0"
    import django

    django.setup()
    from django.conf import settings
    from kurrentdbclient import KurrentDBClient, NewEvent, StreamState

    from kurrent.connection import metrics
    from kurrent.connection.manager import connections
    from kurrent.core.errors import KurrentUnavailable
    from kurrent.embedded import NodeProcess

    node = NodeProcess(db=":memory:", port=0, insecure=True).start()
    try:
        settings.KURRENTDB_PROFILES["dev"]["url"] = node.url
        settings.KURRENTDB_ENVIRONMENT = "dev"
        connections.reset()
        raw = KurrentDBClient(node.url)
        raw.append_to_stream(
            "bench-conn", events=[NewEvent(type="B", data=b"{}")], current_version=StreamState.ANY
        )

        # 1. call() overhead, interleaved with the raw client.
        managed_s: list[float] = []
        raw_s: list[float] = []
        for _ in range(50):  # warm up both
            connections.call(
                "dev", "bench", lambda c, t: c.get_current_version("bench-conn", timeout=t)
            )
            raw.get_current_version("bench-conn", timeout=5)
        for _ in range(args.calls):
            started = time.perf_counter()
            connections.call(
                "dev", "bench", lambda c, t: c.get_current_version("bench-conn", timeout=t)
            )
            managed_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            raw.get_current_version("bench-conn", timeout=5)
            raw_s.append(time.perf_counter() - started)
        print(f"1. one-event read, {args.calls} calls each, interleaved")
        print("   " + line("raw kurrentdbclient", raw_s))
        print("   " + line("connections.call()", managed_s))
        ratio = statistics.median(managed_s) / statistics.median(raw_s)
        print(f"   ratio of medians (managed / raw): {ratio:.2f}x")

        # 2. health() under load.
        settings.KURRENTDB_SYNC_INTERVAL_MS = 5000
        connections.reset()
        probes_before = metrics.sample("kurrent_calls_total", env="dev", operation="probe")
        per_call: list[float] = []
        lock = threading.Lock()
        barrier = threading.Barrier(args.dashboards)

        def dashboard() -> None:
            mine = []
            barrier.wait()
            for _ in range(50):
                started = time.perf_counter()
                connections.health("dev")
                mine.append(time.perf_counter() - started)
            with lock:
                per_call.extend(mine)

        threads = [threading.Thread(target=dashboard) for _ in range(args.dashboards)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        probes = metrics.sample("kurrent_calls_total", env="dev", operation="probe") - probes_before
        print(f"2. health(): {args.dashboards} threads x 50 calls in {wall:.2f} s")
        print("   " + line("health() per call", per_call))
        print(f"   probes that reached the node: {probes:.0f}")

        # 3. a stopped node.
        connections.reset()
        connections.call(
            "dev", "bench", lambda c, t: c.get_current_version("bench-conn", timeout=t)
        )
        raw.close()
        node.stop()
        started = time.perf_counter()
        with contextlib.suppress(KurrentUnavailable):
            connections.call(
                "dev", "bench", lambda c, t: c.get_current_version("bench-conn", timeout=t)
            )
        first = time.perf_counter() - started
        fast: list[float] = []
        for _ in range(200):
            started = time.perf_counter()
            with contextlib.suppress(KurrentUnavailable):
                connections.call(
                    "dev", "bench", lambda c, t: c.get_current_version("bench-conn", timeout=t)
                )
            fast.append(time.perf_counter() - started)
        print(f"3. node stopped (KURRENTDB_TIMEOUT {settings.KURRENTDB_TIMEOUT_MS} ms, retries 0)")
        print(f"   first caller waited {first * 1000:.1f} ms")
        print("   " + line("callers during backoff", fast))
    finally:
        node.kill()
        connections.reset()
    return 0


if __name__ == "__main__":
    sys.exit(main())
