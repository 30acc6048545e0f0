"""Each process's readings of every environment, kept fresh in the background.

A reading is an environment's connection health, its projector lag (the checkpoint
against the head of $all), the live projector's last heartbeat and the read model's
sizes. `/kurrent/health`, `/metrics`, the status cards and the status page all show
readings from here, each with its age, so they agree with one another.

Started (`monitor.start()`, by penguinpool/wsgi.py and asgi.py, so in every web server
process and in none of the management commands), it runs one daemon thread per
environment that probes it once per sync interval (sooner while it is down: the
connection manager's backoff is capped at the interval) and measures the lag when that
is due. The environments are `watch`ed by the connection manager, so a request never
probes, never waits for a node that hangs, and is refused at once while one is down;
an environment that hangs holds up its own thread only. A reading is then never older
than about one sync interval, plus one timeout while a probe hangs, and it says so.

Not started (tests, management commands), `get()` reads what is due on the caller's
thread: the health as the connection manager caches it (one probe per sync interval),
the lag, the heartbeat and the sizes once per sync interval.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from django.db import DatabaseError, close_old_connections
from django.db import connection as db_connection

from kurrent.connection import config
from kurrent.connection.health import Health
from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentError
from kurrent.models import ProjectorHeartbeat
from kurrent.readmodel import heartbeat, status
from kurrent.readmodel.status import Sizes, SyncStatus

log = logging.getLogger("kurrent.ops.monitor")

LAG_UNMEASURED = "the projector lag could not be measured"
LAG_NODE = "KurrentDB did not answer the projector's question"
LAG_DATABASE = "the read-model database did not answer"


@dataclass(frozen=True)
class Reading:
    """What this process knows of one environment, and when it learned it."""

    env: str
    health: Health
    sync: SyncStatus | None = None  # None while the lag is not measured
    lag_error: str | None = None  # why it is not, in fixed words
    lag_measured_at: datetime | None = None
    lag_measured_mono: float = 0.0
    beat: ProjectorHeartbeat | None = None
    sizes: Sizes | None = None
    taken_at: float = 0.0  # time.monotonic() of the health reading

    def lag(self, now: datetime | None = None) -> heartbeat.Lag:
        """The lag to show now: in sync, behind, or unknown and why."""
        error = self.lag_error if self.health.is_up else heartbeat.NOT_MEASURED
        sync = self.sync if self.health.is_up else None
        return heartbeat.judge(sync, self.lag_measured_at, self.beat, error=error, now=now)

    def age_s(self, now: float | None = None) -> float:
        return max(0.0, (time.monotonic() if now is None else now) - self.taken_at)


class Monitor:
    """The readings of every environment in this process (module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readings: dict[str, Reading] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._wake: dict[str, threading.Event] = {}
        self._stop = threading.Event()
        self._pid: int | None = None

    # --- running in the background ---------------------------------------------------

    @property
    def running(self) -> bool:
        return self._pid == os.getpid() and any(t.is_alive() for t in self._threads.values())

    def start(self) -> None:
        """Start one thread per environment (again after a fork); idempotent."""
        with self._lock:
            if self._pid == os.getpid() and self._threads:
                return
            self._pid = os.getpid()
            self._stop = threading.Event()
            self._threads, self._wake = {}, {}
            for env in config.environments():
                self._wake[env] = threading.Event()
                self._threads[env] = threading.Thread(
                    target=self._watch, args=(env, self._stop), name=f"kurrent-monitor-{env}"
                )
                self._threads[env].daemon = True
                self._threads[env].start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads (tests); requests read on their own thread again."""
        with self._lock:
            self._stop.set()
            for wake in self._wake.values():
                wake.set()
            threads, self._threads, self._pid = list(self._threads.values()), {}, None
        for thread in threads:
            thread.join(timeout)
        for env in config.environments():
            connections.watch(env, watched=False)

    def _watch(self, env: str, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    connections.watch(env)
                    self._store(self._read(env, probe=True))
                except Exception:  # the next round tries again; the old reading stays
                    log.warning("reading the health of %s failed", env, exc_info=True)
                finally:
                    close_old_connections()
                wake = self._wake.get(env)
                if wake is None:
                    return
                wake.wait(self._next_in(env))
                wake.clear()
        finally:
            db_connection.close()

    def _next_in(self, env: str) -> float:
        interval = heartbeat.sync_interval_s()
        reading = self._readings.get(env)
        if reading is not None and reading.health.state == "down":
            return max(0.05, min(interval, connections.retry_in(env)))
        return interval

    # --- reading ------------------------------------------------------------------------

    def get(self) -> dict[str, Reading]:
        """Every environment's reading, in the order dev, staging, test, mainnet."""
        if self._pid is not None and self._pid != os.getpid():
            self.start()  # started before a fork (gunicorn --preload): start in this one
        if not self.running:
            return self.refresh()
        readings = self._readings
        missing = [env for env in config.environments() if env not in readings]
        for env in missing:  # a process's first request, before its monitor's first round
            self._store(self._read(env, probe=False))
        readings = self._readings
        return {env: readings[env] for env in config.environments()}

    def reading(self, env: str) -> Reading:
        """One environment's reading (read now when the monitor is not running)."""
        if self.running and env in self._readings:
            return self._readings[env]
        reading = self._read(env)
        self._store(reading)
        return reading

    def peek(self) -> dict[str, Reading]:
        """Whatever is known now, possibly nothing; no I/O."""
        return dict(self._readings)

    def refresh(self) -> dict[str, Reading]:
        """Read every environment now, on this thread (probes in parallel, as due)."""
        healths = connections.health_all()
        for env, health in healths.items():
            self._store(self._read(env, health=health))
        readings = self._readings
        return {env: readings[env] for env in healths}

    def check_now(self, env: str) -> Reading:
        """An admin's "check now": probe `env` at once, past any backoff."""
        health = connections.check_now(env)
        reading = self._read(env, health=health)
        self._store(reading)
        return reading

    def clear(self) -> None:
        with self._lock:
            self._readings = {}

    def _store(self, reading: Reading) -> None:
        with self._lock:
            self._readings = {**self._readings, reading.env: reading}

    def _read(self, env: str, *, probe: bool = False, health: Health | None = None) -> Reading:
        if health is None:
            health = connections.refresh_health(env) if probe else connections.health(env)
        now = time.monotonic()
        previous = self._readings.get(env)
        reading = Reading(env=env, health=health, taken_at=now)
        if previous is not None:  # the other readings stay until they are due again
            reading = replace(previous, health=health, taken_at=now)
        due = previous is None or now - previous.lag_measured_mono >= heartbeat.sync_interval_s()
        if not due or health.state in ("disabled", "not configured"):
            return reading
        sync, error, measured_at = None, heartbeat.NOT_MEASURED, None
        if health.is_up:
            sync, error = _measure_lag(env)
            measured_at = datetime.now(UTC) if sync is not None else None
        beat, sizes = _beat_and_sizes(env)
        return replace(
            reading,
            sync=sync,
            lag_error=error,
            lag_measured_at=measured_at,
            lag_measured_mono=now,
            beat=beat,
            sizes=sizes,
        )


def _measure_lag(env: str) -> tuple[SyncStatus | None, str | None]:
    try:
        return status.sync_status(env), None
    except KurrentError:
        return None, LAG_NODE
    except DatabaseError:
        return None, LAG_DATABASE
    except Exception:  # the lag is one part of a reading, never its failure
        log.exception("measuring the projector lag of %s failed", env)
        return None, LAG_UNMEASURED


def _beat_and_sizes(env: str) -> tuple[ProjectorHeartbeat | None, Sizes | None]:
    try:
        return ProjectorHeartbeat.objects.filter(env=env).first(), status.sizes(env)
    except DatabaseError:
        return None, None


monitor = Monitor()
