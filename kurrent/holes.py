"""Rendered HTML reused across requests, with holes for what each request must own.

A blank form is the same for everyone except its CSRF token and its idempotency key,
yet rendering its widgets is most of the cost of a dashboard load or of a create's
answer. So it is rendered once per process with a marker in each of those two
places, and every request fills the markers: the CSRF token of this request (masked
afresh, as `{% csrf_token %}` would) and a new key for each key marker.

The markers are random per process, so no text a user wrote can contain one.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from threading import Lock
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.urls import get_script_prefix

from kurrent.forms import new_idempotency_key

CSRF = f"csrfhole{secrets.token_hex(16)}"
KEY = str(uuid.uuid4())  # a UUID, so a UUIDField renders it as it renders a real key
_MAX_ENTRIES = 64

_rendered: dict[tuple[Any, ...], str] = {}
_lock = Lock()


def fill(html: str, request: HttpRequest) -> str:
    """`html` with this request's CSRF token and a fresh idempotency key per key marker
    (str.split and str.replace: far faster than a regex over a 30 KB page)."""
    if KEY in html:
        first, *rest = html.split(KEY)
        html = first + "".join(new_idempotency_key() + part for part in rest)
    if CSRF in html:
        html = html.replace(CSRF, get_token(request))
    return html


def blank(
    template: str, context: Callable[[], dict[str, Any]], variant: tuple[Any, ...] = ()
) -> str:
    """`template` rendered with `context()` (which must not depend on the request), once
    per process for the same template and `variant`, with its holes still open (fill).

    Put a form's idempotency key as `KEY` into the context; the CSRF token is `CSRF`.
    With DEBUG on, templates are rendered each time, so edits show at once."""
    key = (template, get_script_prefix(), *variant)
    html = None if settings.DEBUG else _rendered.get(key)
    if html is None:
        html = render_to_string(template, {**context(), "csrf_token": CSRF})
        with _lock:
            if len(_rendered) >= _MAX_ENTRIES:
                _rendered.clear()
            _rendered[key] = html
    return html


def clear() -> None:
    with _lock:
        _rendered.clear()
