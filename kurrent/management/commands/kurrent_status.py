"""Print every KurrentDB environment's health; exit 1 when the active one is unusable."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kurrent.connection.config import active_environment
from kurrent.connection.health import DOWN, NOT_CONFIGURED, Health
from kurrent.connection.manager import connections

COLUMNS = ("", "ENV", "STATE", "LATENCY", "NODE", "ADDRESS", "URL", "DETAIL")


class Command(BaseCommand):
    help = (
        "Show the health of every KurrentDB environment (state, latency, node, last error). "
        "Exits with status 1 when the active environment is down or not configured."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        active = active_environment()
        report = connections.health_all()
        if options["json"]:
            self.stdout.write(json.dumps([_as_dict(h, active) for h in report.values()], indent=2))
        else:
            self.stdout.write(render_table(report, active))
        health = report[active]
        if health.state in (DOWN, NOT_CONFIGURED):
            raise CommandError(f"the active environment {active} is {health.state}", returncode=1)


def render_table(report: dict[str, Health], active: str) -> str:
    rows = [COLUMNS]
    for name, h in report.items():
        rows.append(
            (
                "*" if name == active else "",
                name
                + (" (production)" if h.is_production else "")
                + (" (embedded)" if h.uses_embedded else ""),
                h.state,
                "-" if h.latency_ms is None else f"{h.latency_ms:.1f} ms",
                h.node_state or "-",
                h.node_address or "-",
                h.redacted_url or "-",
                _last_error(h),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.append("* = active environment (KURRENTDB_ENVIRONMENT)")
    return "\n".join(lines)


def _last_error(h: Health) -> str:
    if h.state in (DOWN,) and h.last_error:
        n = h.reconnect_attempts
        attempts = f" ({n} failed attempt{'' if n == 1 else 's'})" if n else ""
        return h.last_error + attempts
    if h.reason and h.state != "connected":
        return h.reason
    return h.last_error or "-"


def _as_dict(h: Health, active: str) -> dict[str, Any]:
    return {
        "env": h.env,
        "active": h.env == active,
        "state": h.state,
        "latency_ms": h.latency_ms,
        "node_state": h.node_state,
        "node_address": h.node_address,
        "commit_position": h.commit_position,
        "last_error": h.last_error,
        "reason": h.reason,
        "last_success_at": h.last_success_at.isoformat() if h.last_success_at else None,
        "reconnect_attempts": h.reconnect_attempts,
        "checked_at": h.checked_at.isoformat(),
        "is_production": h.is_production,
        "url": h.redacted_url,
        "uses_embedded": h.uses_embedded,
    }
