"""Pure formatting helpers behind the template filters (tested on their own)."""

from __future__ import annotations

import difflib
import json
from datetime import UTC, datetime
from typing import Any

_CHANGE_PREVIEW = 80


def pretty_json(value: Any) -> str:
    """Indented JSON, keys in their stored order, non-ASCII kept readable."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def compact_json(value: Any) -> str:
    """The same document on one line, as it is stored."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def preview(value: Any, limit: int = _CHANGE_PREVIEW) -> str:
    """A one-line, shortened rendering of a changed value for timelines."""
    text = value if isinstance(value, str) else compact_json(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def utc_text(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_utc(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """'just now', '42 s ago', '5 min ago', '3 h ago', '2 d ago'."""
    if moment is None:
        return "never"
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int((now - moment).total_seconds())
    if seconds < 2:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def latency_text(ms: float | None) -> str:
    if ms is None:
        return "\u2013"  # an en dash: no value
    if ms < 10:
        return f"{ms:.1f} ms"
    return f"{ms:.0f} ms"


def short_id(value: str, length: int = 8) -> str:
    return str(value)[:length]


def state_label(state: str) -> str:
    return {
        "connected": "Connected",
        "degraded": "Degraded",
        "down": "Down",
        "disabled": "Disabled",
        "not configured": "Not configured",
    }.get(state, state.capitalize() if state else "Unknown")


def state_class(state: str) -> str:
    return "state-" + (state or "unknown").replace(" ", "-")


def line_diff(old: Any, new: Any) -> list[tuple[str, str]]:
    """Lines of the pretty JSON of `old` and `new`, marked "same", "del" or "add"."""
    old_lines = pretty_json(old).splitlines() if old is not None else []
    new_lines = pretty_json(new).splitlines() if new is not None else []
    marked: list[tuple[str, str]] = []
    for line in difflib.ndiff(old_lines, new_lines):
        code, text = line[:2], line[2:]
        if code == "  ":
            marked.append(("same", text))
        elif code == "- ":
            marked.append(("del", text))
        elif code == "+ ":
            marked.append(("add", text))
    return marked


def window_text(seconds: int) -> str:
    """How far back "recent" counts reach: 'since start', 'last 40 s', 'last 5 min'."""
    if seconds <= 0:
        return "since start"
    if seconds < 60:
        return f"last {seconds} s"
    return f"last {round(seconds / 60)} min"
