"""Prometheus metrics of the KurrentDB calls, per environment and operation.

Registered once in prometheus-client's default registry, so a `/metrics` view can
serve `prometheus_client.generate_latest()`. `operation_stats()` summarises them for
the status panel without going through the text format.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

# Loopback calls take about a millisecond; a down or slow node takes up to the timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

CALLS = Counter(
    "kurrent_calls",
    "KurrentDB operations attempted, per environment and operation.",
    ["env", "operation"],
)
ERRORS = Counter(
    "kurrent_call_errors",
    "KurrentDB operations that failed, by kind: unavailable, timeout, rejected (the "
    "environment was down and backing off), busy, or the client's exception name.",
    ["env", "operation", "error"],
)
LATENCY = Histogram(
    "kurrent_call_seconds",
    "Time spent in KurrentDB operations, successful or not.",
    ["env", "operation"],
    buckets=LATENCY_BUCKETS,
)
UP = Gauge("kurrent_up", "1 when the environment answered its last call or probe.", ["env"])
RECONNECT_ATTEMPTS = Gauge(
    "kurrent_reconnect_attempts",
    "Failed attempts since the environment last answered.",
    ["env"],
)
STREAMS_OPEN = Gauge("kurrent_streams_open", "Long reads and subscriptions open now.", ["env"])
PROJECTOR_SKIPPED = Counter(
    "kurrent_projector_skipped",
    "Events of our streams the projector could not apply and skipped, by reason "
    "(kurrent.core.shapes.PROBLEM_REASONS); each is recorded for admins as a SkippedEvent.",
    ["env", "reason"],
)


def sample(name: str, **labels: str) -> float:
    """The current value of one series (0.0 when it has not been touched yet).

    `name` is the sample name, e.g. "kurrent_calls_total" or "kurrent_call_seconds_count".
    """
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


@dataclass(frozen=True)
class OperationStats:
    operation: str
    calls: int
    errors: int
    mean_ms: float | None
    p95_ms: float | None  # an upper bound from the histogram buckets
    # Estimated inside their bucket, as Prometheus' histogram_quantile() does.
    p50_estimate_ms: float | None = None
    p95_estimate_ms: float | None = None


def operation_stats(env: str) -> list[OperationStats]:
    """Calls, errors and latency of each operation seen in `env`, sorted by operation."""
    calls: dict[str, float] = {}
    errors: dict[str, float] = {}
    total_s: dict[str, float] = {}
    buckets: dict[str, list[tuple[float, float]]] = {}
    # Only our three families: REGISTRY.collect() would also run every other collector
    # (process, GC, platform, /metrics' snapshot), four times per status panel render.
    for metric in (*CALLS.collect(), *ERRORS.collect(), *LATENCY.collect()):
        for s in metric.samples:
            if s.labels.get("env") != env:
                continue
            op = s.labels.get("operation", "")
            if s.name == "kurrent_calls_total":
                calls[op] = s.value
            elif s.name == "kurrent_call_errors_total":
                errors[op] = errors.get(op, 0.0) + s.value
            elif s.name == "kurrent_call_seconds_sum":
                total_s[op] = s.value
            elif s.name == "kurrent_call_seconds_bucket":
                buckets.setdefault(op, []).append((float(s.labels["le"]), s.value))
    stats = []
    # Errors without calls too: a long read refused as busy (stream_slot) counts an error
    # of operation "stream" and no call.
    for op in sorted(set(calls) | set(errors)):
        count = int(calls.get(op, 0))
        mean = total_s.get(op, 0.0) / count * 1000 if count else None
        stats.append(
            OperationStats(
                operation=op,
                calls=count,
                errors=int(errors.get(op, 0)),
                mean_ms=mean,
                p95_ms=_quantile_ms(buckets.get(op, []), 0.95),
                p50_estimate_ms=_estimate_ms(buckets.get(op, []), 0.5),
                p95_estimate_ms=_estimate_ms(buckets.get(op, []), 0.95),
            )
        )
    return stats


def call_totals() -> dict[str, tuple[int, int]]:
    """{env: (calls, errors)} over every operation, in one pass over two counters.

    The status panel needs only these sums; operation_stats() would also walk the
    latency histogram's buckets, once per environment."""
    totals: dict[str, list[float]] = {}
    for index, counter in enumerate((CALLS, ERRORS)):
        for metric in counter.collect():
            for s in metric.samples:
                if s.name.endswith("_total"):
                    env = s.labels.get("env", "")
                    totals.setdefault(env, [0.0, 0.0])[index] += s.value
    return {env: (int(calls), int(errors)) for env, (calls, errors) in totals.items()}


def _quantile_ms(cumulative: list[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the bucket holding quantile q, in milliseconds."""
    cumulative.sort()
    if not cumulative or cumulative[-1][1] == 0:
        return None
    wanted = q * cumulative[-1][1]
    for bound, count in cumulative:
        if count >= wanted:
            return None if bound == float("inf") else bound * 1000
    return None


def _estimate_ms(cumulative: list[tuple[float, float]], q: float) -> float | None:
    """Quantile q in milliseconds, linearly interpolated inside its bucket (as
    Prometheus' histogram_quantile); the largest finite bound if it is in the +Inf one."""
    cumulative = sorted(cumulative)
    if not cumulative or cumulative[-1][1] == 0:
        return None
    wanted = q * cumulative[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in cumulative:
        if count >= wanted:
            if bound == float("inf"):
                return lower_bound * 1000
            inside = count - lower_count
            share = (wanted - lower_count) / inside if inside else 1.0
            return (lower_bound + (bound - lower_bound) * share) * 1000
        lower_bound, lower_count = bound, count
    return None
