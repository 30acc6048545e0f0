"""Helpers shared by the view tests (test_views_*.py)."""

from __future__ import annotations

import socket
from typing import Any

from kurrent.services import records, userdata

# Django's test client turns HTTP_* keyword arguments into request headers.
HX = {"HTTP_HX_REQUEST": "true"}
SCRIPT = "<script>alert('x')</script>"


def record(owner: Any, name: str = "Emperor census", **fields: Any) -> Any:
    fields.setdefault("data", {"species": "emperor", "count": 3})
    fields.setdefault("tags", ["census"])
    fields.setdefault("is_public", False)
    return records.create_record(owner, name=name, **fields)


def entry(owner: Any, **fields: Any) -> Any:
    fields.setdefault("entry_type", "profile")
    fields.setdefault("category", "contact")
    fields.setdefault("value", {"email": f"{owner.username}@example.org"})
    return userdata.store_entry(owner, **fields)


def closed_port_url() -> str:
    """A KurrentDB URL where nothing listens: calls fail with connection refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"kurrentdb://127.0.0.1:{port}?Tls=false"


def is_fragment(response: Any) -> bool:
    """An htmx partial: no page shell around it."""
    body = response.content.decode()
    return "<html" not in body and "<body" not in body


def status_card(body: str, env: str) -> str:
    """The HTML of one environment's status card (its <article> element)."""
    start = body.rindex("<article", 0, body.index(f'id="status-{env}"'))
    return body[start : body.index("</article>", start)]
