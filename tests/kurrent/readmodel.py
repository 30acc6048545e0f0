"""Helpers for tests of the read model: its tables as plain rows, and retrying a call
while SQLite's shared in-memory test database is locked by another thread."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import OperationalError
from kurrentdbclient import NewEvent, StreamState

from kurrent.models import (
    Activity,
    ProjectionCheckpoint,
    RecordSearch,
    RecordTag,
    StreamRecord,
    UserDataEntry,
)

T = TypeVar("T")


def tables(*, checkpoint: bool = True) -> dict[str, list[tuple]]:
    """Everything the projector writes, without surrogate keys, in a stable order; the
    checkpoint (position and counts) too, unless `checkpoint` is False."""

    def rows(model: Any, order: tuple[str, ...], skip: tuple[str, ...] = ("id",)) -> list[tuple]:
        names = [f.attname for f in model._meta.concrete_fields if f.attname not in skip]
        return [tuple(row) for row in model.objects.order_by(*order).values_list(*names)]

    found = {
        "records": rows(StreamRecord, ("env", "record_id")),
        "tags": sorted(RecordTag.objects.values_list("record__record_id", "tag")),
        # PostgreSQL's search rows (kept by a trigger; empty on SQLite).
        "search": sorted(
            RecordSearch.objects.values_list(
                "record__record_id", "env", "is_public", "owner_id", "updated_at", "search_vector"
            )
        ),
        "entries": rows(UserDataEntry, ("env", "entry_id")),
        "activity": rows(Activity, ("env", "position")),
    }
    if checkpoint:
        found["checkpoint"] = rows(
            ProjectionCheckpoint, ("env",), skip=("id", "updated_at", "last_event_at")
        )
    return found


def retrying(fn: Callable[[], T], attempts: int = 200) -> T:
    """SQLite's shared in-memory test database locks whole tables: retry briefly."""
    for _ in range(attempts):
        try:
            return fn()
        except OperationalError:
            time.sleep(0.05)
    return fn()


def external_create(client: Any, owner: Any, name: str, **extra: Any) -> str:
    """What another process writing with a plain kurrentdbclient would append."""
    record_id = str(uuid.uuid4())
    body = {
        "record_id": record_id,
        "name": name,
        "data": {"note": f"written outside the app: {name}"},
        "tags": ["external"],
        "owner_id": owner.pk,
        "owner": owner.username,
        "is_public": True,
        "metadata": {},
        **extra,
    }
    client.append_to_stream(
        f"pool-{record_id}",
        events=NewEvent(type="StreamCreated", data=json.dumps(body).encode()),
        current_version=StreamState.NO_STREAM,
    )
    return record_id
