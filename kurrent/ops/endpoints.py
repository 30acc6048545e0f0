"""Operations endpoints: `GET /kurrent/health` for load balancers, `GET /metrics` for Prometheus.

Both are open to anonymous callers (a load balancer does not sign in) and show no
secret: no connection string, host, user name or password, only states, numbers and
fixed words. Both answer from a per-process snapshot (`snapshots`), never from a
probe of their own: the snapshot is filled on first use and then refreshed by a
background thread, the connection health at most once a second (which costs no I/O
while the connection manager's own cache is fresh) and the projector lag once per
KURRENTDB_SYNC_INTERVAL. A request never waits for KurrentDB, except the very first
one of a process.

/kurrent/health answers 200 when the active environment is usable (connected or
degraded) and 503 otherwise; the body has every environment's state, latency and
projector lag.

/metrics needs `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set
(compared in constant time). With no token it is open in DEBUG and refused (403)
otherwise: a production deployment must choose a token to expose its metrics.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db import connection as db_connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kurrent.connection import config
from kurrent.connection.health import CONNECTED, DEGRADED, STATES, Health
from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentError
from kurrent.readmodel import status
from kurrent.readmodel.status import SyncStatus

log = logging.getLogger("kurrent.ops.endpoints")

HEALTHY_STATES = (CONNECTED, DEGRADED)
HEALTH_REFRESH_S = 1.0  # how often the snapshot asks the connection manager (cheap)


@dataclass(frozen=True)
class Lag:
    """The projector against KurrentDB (`status.sync_status`), or why it is unknown."""

    sync: SyncStatus | None = None
    error: str | None = None  # plain words when the lag could not be measured
    measured_at: float = 0.0  # time.monotonic()


@dataclass(frozen=True)
class EnvSnapshot:
    env: str
    health: Health
    lag: Lag | None  # None while the environment is not usable
    taken_at: float  # time.monotonic() of the health reading


class Snapshots:
    """The last known health and projector lag of every environment, per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first = threading.Lock()
        self._data: dict[str, EnvSnapshot] | None = None
        self._refreshing = False

    def get(self) -> dict[str, EnvSnapshot]:
        """The snapshot; starts a background refresh when it is due. Never probes itself,
        except to fill an empty snapshot (the first request of a process)."""
        data = self._data
        if data is None:
            with self._first:
                if self._data is None:
                    self.refresh()
                data = self._data
            assert data is not None
            return data
        if self._due(data):
            self._start_refresh()
        return data

    def peek(self) -> dict[str, EnvSnapshot]:
        """Whatever is known now, possibly nothing; no I/O, no refresh."""
        return self._data or {}

    def clear(self) -> None:
        with self._lock:
            self._data = None

    def refresh(self) -> dict[str, EnvSnapshot]:
        """Read every environment's health (cached by the connection manager) and, when its
        projector lag is older than the sync interval, measure that again."""
        previous = self._data or {}
        healths = connections.health_all()
        now = time.monotonic()
        interval = settings.KURRENTDB_SYNC_INTERVAL_MS / 1000
        data: dict[str, EnvSnapshot] = {}
        for env, health in healths.items():
            lag = None
            if health.state in HEALTHY_STATES:
                old = previous.get(env)
                lag = old.lag if old is not None else None
                if lag is None or now - lag.measured_at >= interval:
                    lag = measure_lag(env)
            data[env] = EnvSnapshot(env=env, health=health, lag=lag, taken_at=now)
        with self._lock:
            self._data = data
        return data

    def _due(self, data: dict[str, EnvSnapshot]) -> bool:
        taken = min((s.taken_at for s in data.values()), default=0.0)
        return time.monotonic() - taken >= HEALTH_REFRESH_S

    def _start_refresh(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True
        threading.Thread(target=self._background, name="kurrent-ops-refresh", daemon=True).start()

    def _background(self) -> None:
        try:
            self.refresh()
        except Exception:  # a refresh that fails keeps the old snapshot; the next one retries
            log.warning("refreshing the health snapshot failed", exc_info=True)
        finally:
            with self._lock:
                self._refreshing = False
            db_connection.close()  # this thread's own database connection


def measure_lag(env: str) -> Lag:
    now = time.monotonic()
    try:
        sync = status.sync_status(env)
    except KurrentError:
        return Lag(error="KurrentDB did not answer the projector's question", measured_at=now)
    except DatabaseError:
        return Lag(error="the read-model database did not answer", measured_at=now)
    except Exception:  # the lag is one field of the health answer, never its failure
        log.exception("measuring the projector lag of %s failed", env)
        return Lag(error="the projector lag could not be measured", measured_at=now)
    return Lag(sync=sync, measured_at=now)


snapshots = Snapshots()


# --- /kurrent/health -------------------------------------------------------------------------

HEALTH_PATH = "/kurrent/health"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _env_json(snap: EnvSnapshot, active: str, now: float) -> dict[str, Any]:
    health, lag = snap.health, snap.lag
    healthy = health.state in HEALTHY_STATES
    body: dict[str, Any] = {
        "state": health.state,
        "healthy": healthy,
        "active": snap.env == active,
        "production": health.is_production,
        "latency_ms": health.latency_ms,
        "checked_at": _iso(health.checked_at),
        "age_s": round(max(0.0, now - snap.taken_at), 3),
        # Fixed words from the connection manager (never a URL or the client's text).
        "reason": None if health.state == CONNECTED else (health.reason or health.last_error),
        "projector": None,
    }
    if lag is not None:
        sync = lag.sync
        body["projector"] = {
            "checkpoint_position": sync.checkpoint_position if sync else None,
            "head_position": sync.head_position if sync else None,
            "events_behind": sync.events_behind if sync else None,
            "events_behind_capped": sync.events_behind_capped if sync else False,
            "seconds_behind": sync.seconds_behind if sync else None,
            "skipped_events": sync.skipped_events if sync else None,
            "age_s": round(max(0.0, now - lag.measured_at), 3),
            "error": lag.error,
        }
    return body


@never_cache
@require_http_methods(["GET", "HEAD"])
def health(request: HttpRequest) -> HttpResponse:
    """Every environment's state, latency and projector lag; 503 when the active one is
    not usable, so a load balancer can read the status code alone."""
    active = config.active_environment()
    try:
        data = snapshots.get()
    except Exception:  # a load balancer must get an answer it can read, whatever failed
        log.exception("taking the health snapshot failed")
        body = {"status": "unavailable", "active": active, "environments": {}}
        return JsonResponse({**body, "error": "the health check itself failed"}, status=503)
    now = time.monotonic()
    envs = {env: _env_json(snap, active, now) for env, snap in data.items()}
    ok = envs.get(active, {}).get("healthy", False)
    body = {"status": "ok" if ok else "unavailable", "active": active, "environments": envs}
    return JsonResponse(body, status=200 if ok else 503)


class HealthMiddleware:
    """Answers /kurrent/health right after SecurityMiddleware, before static files,
    sessions, the host check, CSRF, auth and URL resolution: load balancers probe it
    many times a second, anonymously, and it reads only the snapshot. It also answers a
    load balancer that probes by IP address, which ALLOWED_HOSTS would refuse."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTH_PATH:
            return health(request)
        return self.get_response(request)


# --- /metrics --------------------------------------------------------------------------------


# Projector lag fields, each exported as the gauge kurrent_projector_<field>.
LAG_GAUGES = {
    "checkpoint_position": "Commit position in $all of the last event the read model applied.",
    "head_position": "Commit position in $all of the newest event of our streams.",
    "events_behind": "Events of our streams not applied to the read model yet (capped at 1000).",
    "seconds_behind": "Age of the oldest event not applied yet; 0 when caught up.",
    "events_applied": "Events applied since the read model was last rebuilt.",
    "skipped_events": "Events of our streams the projector did not understand and skipped.",
}


class SnapshotCollector(Collector):
    """Connection state and projector lag from the snapshot, as gauges (no I/O)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        data = snapshots.peek()
        state = GaugeMetricFamily(
            "kurrent_health_state",
            "1 for the environment's current connection state, 0 for the others.",
            labels=["env", "state"],
        )
        latency = GaugeMetricFamily(
            "kurrent_health_latency_seconds",
            "Round trip of the environment's last health probe.",
            labels=["env"],
        )
        age = GaugeMetricFamily(
            "kurrent_health_age_seconds", "Age of the health reading served.", labels=["env"]
        )
        lag_gauges = {
            field: GaugeMetricFamily(f"kurrent_projector_{field}", help_text, labels=["env"])
            for field, help_text in LAG_GAUGES.items()
        }
        now = time.monotonic()
        for env, snap in data.items():
            for name in STATES:
                state.add_metric([env, name], 1.0 if snap.health.state == name else 0.0)
            if snap.health.latency_ms is not None:
                latency.add_metric([env], snap.health.latency_ms / 1000)
            age.add_metric([env], max(0.0, now - snap.taken_at))
            sync = snap.lag.sync if snap.lag is not None else None
            if sync is None:
                continue
            for field, gauge in lag_gauges.items():
                value = getattr(sync, field)
                if value is not None:
                    gauge.add_metric([env], float(value))
        yield state
        yield latency
        yield age
        yield from lag_gauges.values()


_collector = SnapshotCollector()
REGISTRY.register(_collector)


def _metrics_refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the caller may read the metrics, else the response to send."""
    token = settings.METRICS_TOKEN
    if not token:
        if settings.DEBUG:
            return None
        return HttpResponse(
            "Metrics are off: set METRICS_TOKEN and scrape with 'Authorization: Bearer <token>'.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    given = request.headers.get("Authorization", "")
    scheme, _, credentials = given.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    ):
        return None
    response = HttpResponse(
        "A bearer token is required.\n", status=401, content_type="text/plain; charset=utf-8"
    )
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
@require_http_methods(["GET", "HEAD"])
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format: KurrentDB calls, errors and latency per environment and
    operation (kurrent.connection.metrics), connection state, and projector lag."""
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    snapshots.get()  # fills the snapshot on first use; later scrapes never wait for it
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
