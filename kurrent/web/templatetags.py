"""The `kurrent_extras` template library: filters that call tested pure functions
(kurrent.web.formatting, kurrent.services.roles) and the header's environment tags.

Registered by name in settings (TEMPLATES OPTIONS "libraries"), since it lives in the
web package rather than in an app's templatetags folder."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

from django import template
from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import format_html
from django.utils.http import RFC3986_SUBDELIMS

from kurrent.connection import config
from kurrent.services import roles
from kurrent.web import formatting
from kurrent.web.context import current_env, health

register = template.Library()


@register.simple_tag
def new_idempotency_key() -> str:
    """A fresh idempotency key for a small form rendered in a loop (an entry card's
    visibility button): resubmitting that rendering appends at most once."""
    return str(uuid.uuid4())


@register.filter
def pretty_json(value: Any) -> str:
    return formatting.pretty_json(value)


@register.filter
def compact_json(value: Any) -> str:
    return formatting.compact_json(value)


@register.filter
def preview(value: Any) -> str:
    return formatting.preview(value)


@register.filter
def utc_text(value: datetime | None) -> str:
    return formatting.utc_text(value)


@register.filter
def iso_utc(value: datetime | None) -> str:
    return formatting.iso_utc(value)


@register.filter
def ago(value: datetime | None) -> str:
    return formatting.ago(value)


@register.filter
def time_tag(value: datetime | None) -> str:
    """A <time> element with the UTC time as text, which static/js/base.js words as
    "42 s ago" (and keeps current): the same HTML at any moment, so a fragment holding
    it can be reused (kurrent.web.fragments). One template node per row, not three."""
    if value is None:
        return "never"
    return format_html(
        '<time datetime="{}" data-ago>{}</time>',
        formatting.iso_utc(value),
        formatting.utc_text(value),
    )


@register.filter
def latency(value: float | None) -> str:
    return formatting.latency_text(value)


@register.filter
def short_id(value: str) -> str:
    return formatting.short_id(value)


@register.filter
def state_label(value: str) -> str:
    return formatting.state_label(value)


@register.filter
def state_class(value: str) -> str:
    return formatting.state_class(value)


@register.filter
def is_admin(user: Any) -> bool:
    return roles.is_admin(user)


@register.filter
def can_write(user: Any) -> bool:
    return roles.can_write(user)


@register.filter
def role(user: Any) -> str:
    return roles.role_name(user)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None


@register.simple_tag
def poll_seconds() -> int:
    """The status polling period: the sync interval, at least one second."""
    return max(1, round(settings.KURRENTDB_SYNC_INTERVAL_MS / 1000))


@register.inclusion_tag("partials/env_switcher.html", takes_context=True)
def env_switcher(context: template.Context) -> dict[str, Any]:
    request = context["request"]
    return {
        "request": request,
        "show": roles.is_admin(request.user),
        "current": current_env(request),
        "active": config.active_environment(),
        "environments": config.environments(),
        "production": config.PRODUCTION,
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("partials/env_banner.html", takes_context=True)
def env_banner(context: template.Context) -> dict[str, Any]:
    """A banner when the environment shown is not usable (down, not configured)."""
    request = context["request"]
    env = current_env(request)
    return {
        "env": env,
        "health": health(env),
        "switched": env != config.active_environment(),
        "production": env == config.PRODUCTION,
    }


@register.filter
def line_diff(change: Any) -> list[tuple[str, str]]:
    """{"old": ..., "new": ...} -> marked lines of their pretty JSON."""
    return formatting.line_diff(change.get("old"), change.get("new"))


@register.filter
def recent_window(recent: Any) -> str:
    return formatting.window_text(getattr(recent, "window_s", 0))


_URL_SLOT = "RECORDID0"
_record_url_patterns: dict[tuple[str, Any], tuple[str, str]] = {}


@register.filter
def record_url(record_id: Any) -> str:
    """{% url 'kurrent-record' id %}, without resolving the pattern for every row of a list:
    the URL is reversed once (per script prefix) and the id put in its place, quoted as
    reverse() quotes it."""
    text = str(record_id)
    if not text or "/" in text:
        return reverse("kurrent-record", args=[text])  # the same error or answer as {% url %}
    key = (get_script_prefix(), get_urlconf())
    parts = _record_url_patterns.get(key)
    if parts is None:
        before, _, after = reverse("kurrent-record", args=[_URL_SLOT]).partition(_URL_SLOT)
        parts = _record_url_patterns[key] = (before, after)
    return parts[0] + quote(text, safe=RFC3986_SUBDELIMS + "/~:@") + parts[1]
