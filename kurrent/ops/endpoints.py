"""Operations endpoints: `GET /kurrent/health` for load balancers, `GET /metrics` for Prometheus.

Both are open to anonymous callers (a load balancer does not sign in) and show no
secret: no connection string, host, user name or password, only states, numbers and
fixed words. Both answer from the process's readings (kurrent.ops.monitor), never
from a probe of their own: in a web server the monitor refreshes them in the
background once per KURRENTDB_SYNC_INTERVAL, so a request never waits for KurrentDB
(except the very first of a process, before the monitor's first round), and every
answer carries its age. The projector lag is "unknown", and says why, while no live
projector has beaten recently or the reading is too old (kurrent.readmodel.heartbeat).

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
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kurrent.connection import config
from kurrent.connection.health import CONNECTED, DEGRADED, STATES
from kurrent.ops.monitor import Reading, monitor

log = logging.getLogger("kurrent.ops.endpoints")

HEALTHY_STATES = (CONNECTED, DEGRADED)

# The per-process readings both endpoints answer from (kurrent.ops.monitor).
snapshots = monitor


# --- /kurrent/health -------------------------------------------------------------------------

HEALTH_PATH = "/kurrent/health"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _age(now: float, then: datetime | None) -> float | None:
    if then is None:
        return None
    return round(max(0.0, (datetime.now(UTC) - then).total_seconds()), 3)


def _env_json(reading: Reading, active: str, now: float) -> dict[str, Any]:
    health = reading.health
    healthy = health.state in HEALTHY_STATES
    body: dict[str, Any] = {
        "state": health.state,
        "healthy": healthy,
        "active": reading.env == active,
        "production": health.is_production,
        "latency_ms": health.latency_ms,
        "checked_at": _iso(health.checked_at),
        "age_s": round(reading.age_s(now), 3),  # of this process's reading
        # Fixed words from the connection manager (never a URL or the client's text).
        "reason": None if health.state == CONNECTED else (health.reason or health.last_error),
        "projector": None,
        "size": None,
    }
    if health.state in ("disabled", "not configured"):
        return body
    lag, sync = reading.lag(), reading.sync if healthy else None
    body["projector"] = {
        "lag": lag.state,  # "in sync", "behind" or "unknown"
        "why": lag.why,  # for "unknown": no projector running, reading too old, ...
        "checkpoint_position": sync.checkpoint_position if sync else None,
        "head_position": sync.head_position if sync else None,
        "events_behind": lag.events_behind,
        "events_behind_capped": lag.events_behind_capped,
        "seconds_behind": lag.seconds_behind,
        "skipped_events": sync.skipped_events if sync else None,
        "age_s": _age(now, lag.measured_at),
        "heartbeat_age_s": _age(now, lag.heartbeat_at),
        "error": reading.lag_error if healthy else None,
    }
    if reading.sizes is not None:
        body["size"] = {
            "records": reading.sizes.records,
            "entries": reading.sizes.entries,
            "events": reading.sizes.events,
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
    envs = {env: _env_json(reading, active, now) for env, reading in data.items()}
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
            age.add_metric([env], snap.age_s(now))
            sync = snap.sync if snap.health.is_up else None
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
