"""The status pictures: each card's sparklines, and the status page's per-operation
latency and events-per-minute chart, as values the templates draw as SVG.

Sparklines read kurrent.connection.history (this process's last 15 minutes); the
operation latencies read the Prometheus histogram (this process, since it started); the
events per minute are counted in the read model's activity rows (every process's writes,
as the projector applied them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kurrent.connection import metrics
from kurrent.connection.history import SLOTS, history
from kurrent.readmodel import activity
from kurrent.web import formatting, sparkline

EVENT_MINUTES = 60  # the events chart's span


@dataclass(frozen=True)
class CardSparks:
    latency: sparkline.Line
    latency_text: str
    calls: sparkline.Line
    errors: sparkline.Line
    calls_text: str
    latest_latency: str
    slots: int = SLOTS


def card_sparks(env: str) -> CardSparks:
    """The sparklines of one status card: probe latency, and calls with errors."""
    series = history.series(env)
    calls_top = sparkline.scale_top(series.calls, series.errors)
    known = [v for v in series.latency_ms if v is not None]
    return CardSparks(
        latency=sparkline.line(series.latency_ms, sparkline.scale_top(series.latency_ms)),
        latency_text=sparkline.summary("Probe latency", series.latency_ms, formatting.latency_text),
        calls=sparkline.line(series.calls, calls_top),
        errors=sparkline.line(series.errors, calls_top),
        calls_text=(
            sparkline.count_summary("Calls", series.calls)
            + " "
            + sparkline.count_summary("Errors", series.errors, window=None)
        ),
        latest_latency=formatting.latency_text(known[-1]) if known else "",
    )


def note_totals(totals: dict[str, tuple[int, int]]) -> None:
    """Feed the calls history with the counters a panel render read anyway, and make
    sure it keeps sampling while nobody looks."""
    history.sample_totals(totals=totals)
    history.start_sampler()


@dataclass(frozen=True)
class OperationLatency:
    operation: str
    calls: int
    errors: int
    p50: str
    p95: str


def operation_latencies(env: str) -> list[OperationLatency]:
    """Each operation's calls, errors and p50 / p95 latency in `env` (this process)."""
    return [
        OperationLatency(
            s.operation,
            s.calls,
            s.errors,
            formatting.latency_text(s.p50_estimate_ms),
            formatting.latency_text(s.p95_estimate_ms),
        )
        for s in metrics.operation_stats(env)
    ]


@dataclass(frozen=True)
class EventsChart:
    bars: tuple[sparkline.Bar, ...]
    text: str
    total: int
    capped: bool
    width: int
    height: int


def events_per_minute(env: str, now: datetime | None = None) -> EventsChart:
    """Events applied to `env`'s read model in each of the last EVENT_MINUTES minutes."""
    now = now or datetime.now(UTC)
    since = now - timedelta(minutes=EVENT_MINUTES)
    times, capped = activity.recorded_since(env, since)
    counts = [0] * EVENT_MINUTES
    for moment in times:
        minute = int((moment - since).total_seconds() // 60)
        if 0 <= minute < EVENT_MINUTES:
            counts[minute] += 1
    labels = [
        f"{(since + timedelta(minutes=i)).strftime('%H:%M')} UTC: {n} event{'s' if n != 1 else ''}"
        for i, n in enumerate(counts)
    ]
    width, height = sparkline.WIDTH * 3, sparkline.HEIGHT * 2
    total = sum(counts)
    busiest = max(counts)
    more = " at least" if capped else ""
    text = (
        f"Events per minute in {env}, the last {EVENT_MINUTES} minutes:{more} {total} in all, "
        f"at most {busiest} in one minute, {counts[-1]} in the current minute."
    )
    return EventsChart(
        sparkline.bars(counts, labels, width, height), text, total, capped, width, height
    )


def status_details(envs: list[str]) -> list[dict[str, Any]]:
    """The status page's section per environment."""
    return [
        {"env": env, "operations": operation_latencies(env), "events": events_per_minute(env)}
        for env in envs
    ]
