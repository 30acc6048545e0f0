"""The projector survives any event: whatever another program appends to our streams,
good events after it appear, the checkpoint reaches the head, and each event it cannot
apply is skipped, counted by reason and recorded for admins."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kurrentdbclient import NewEvent, StreamState

from kurrent.connection import metrics
from kurrent.core.shapes import PROBLEM_REASONS
from kurrent.models import ProjectionCheckpoint, SkippedEvent, StreamRecord
from kurrent.readmodel import projector, status
from kurrent.services import records
from tests.kurrent.readmodel import external_create, retrying, tables

pytestmark = [pytest.mark.readmodel]

# JSON values no database stores or that break a naive reader, as JSON text.
HOSTILE_JSON = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e999",
    '"\\ud800"',
    '"lone \\udfff surrogate"',
    '"nul \\u0000 inside"',
    "9" * 400,
    "1" + "0" * 5000,  # beyond Python's int-string limit
    "[" * 2000 + "]" * 2000,  # deeper than the JSON parser's recursion
    '"' + "x" * 300 + '"',
    "true",
    "null",
    "[]",
    "{}",
    '"text"',
    "-1",
]
TYPES = ["StreamCreated", "StreamUpdated", "StreamDeleted", "UserDataStored", "UserDataUpdated"]
TYPES += ["UserDataDeleted", "UserErased", "SomethingElse", "", "$metadata-ish", "Ünïcode"]


@st.composite
def json_text(draw: Any) -> str:
    """A JSON value: hostile, or an ordinary one."""
    return draw(
        st.one_of(
            st.sampled_from(HOSTILE_JSON),
            st.text(max_size=30).map(json.dumps),
            st.integers().map(str),
            st.floats(allow_nan=False, allow_infinity=False).map(repr),
        )
    )


@st.composite
def hostile_data(draw: Any, record_id: str, owner_id: int) -> bytes:
    """The data of an event: not JSON at all, or an object of our shapes whose fields
    may each be replaced by something hostile."""
    if draw(st.booleans()) and draw(st.booleans()):
        return draw(st.binary(max_size=60))  # not UTF-8, not JSON, or by chance JSON
    good = {
        "record_id": json.dumps(record_id),
        "entry_id": json.dumps(record_id),
        "name": '"A name"',
        "data": '{"k": "v"}',
        "value": '{"k": "v"}',
        "tags": '["t"]',
        "owner_id": str(owner_id),
        "user_id": str(owner_id),
        "owner": '"someone"',
        "entry_type": '"data"',
        "category": '"c"',
        "is_public": "true",
        "metadata": "{}",
        "changes": '{"name": "Changed"}',
    }
    fields = {}
    for name, value in good.items():
        if draw(st.integers(0, 3)) == 0:
            continue  # missing
        if draw(st.integers(0, 2)) == 0:
            value = draw(json_text())
            if name in ("data", "value", "changes", "metadata") and draw(st.booleans()):
                value = f'{{"k": {value}}}'
        fields[name] = value
    return ("{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}").encode()


@st.composite
def hostile_event(draw: Any, owner_id: int) -> tuple[str, NewEvent]:
    record_id = str(uuid.uuid4())
    stream = draw(
        st.sampled_from(
            [
                f"pool-{record_id}",
                f"userdata-{owner_id}-{record_id}",
                f"userdata-{owner_id + 1}-{record_id}",
                f"erasure-{owner_id + 1000}",
                "pool-not-a-uuid",
                f"userdata-x-{record_id}",
            ]
        )
    )
    metadata = draw(
        st.one_of(
            st.just(b""),
            st.binary(max_size=30),
            json_text().map(lambda v: f'{{"actor": {v}, "timestamp": {v}}}'.encode()),
            st.sampled_from(
                [
                    b'{"schema_version": "99"}',
                    b'{"timestamp": "0001-01-01T00:00:00+01:00"}',
                    b'{"actor": "\\ud800", "$correlationId": "\\u0000"}',
                ]
            ),
        )
    )
    event = NewEvent(
        type=draw(st.sampled_from(TYPES)),
        data=draw(hostile_data(record_id, owner_id)),
        metadata=metadata,
    )
    return stream, event


def _head(client: Any) -> int:
    from kurrent.core.events import STREAM_PREFIXES

    newest = list(
        client.read_all(
            backwards=True,
            limit=1,
            filter_include=STREAM_PREFIXES,
            filter_by_stream_name=True,
            filter_by_prefix=True,
        )
    )
    return newest[0].commit_position


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_good_events_after_hostile_ones_appear(kdb, raw_client, alice, data) -> None:
    hostile = data.draw(st.lists(hostile_event(alice.pk), min_size=1, max_size=4))
    for stream, event in hostile:
        raw_client.append_to_stream(stream, events=event, current_version=StreamState.ANY)
    name = f"good {uuid.uuid4()}"
    good = external_create(raw_client, alice, name)

    projector.catch_up()

    assert StreamRecord.objects.get(record_id=good).name == name
    checkpoint = ProjectionCheckpoint.objects.get(env="dev")
    assert checkpoint.position == _head(raw_client)
    assert set(SkippedEvent.objects.values_list("reason", flat=True)) <= set(PROBLEM_REASONS)


# Each of these another program might append; none may stop the read model.
NAMED = {
    "nan": ("StreamCreated", b'{"record_id": "r", "name": "n", "data": {"x": NaN}}'),
    "lone surrogate": ("StreamCreated", b'{"name": "\\ud800"}'),
    "beyond a float": ("StreamCreated", b'{"name": "n", "data": {"x": 1e400}}'),
    "not utf-8": ("StreamCreated", b"\xff\xfe{}"),
    "not json": ("StreamCreated", b"{not json"),
    "wrong type": ("StreamCreated", b'{"name": 7}'),
    "update of nothing": ("StreamUpdated", b'{"record_id": "x", "changes": {"name": "y"}}'),
    "unknown type": ("RecordPainted", b"{}"),
}


def _record_body(record_id: str, owner: Any, **changes: Any) -> bytes:
    body = {
        "record_id": record_id,
        "name": "n",
        "data": {},
        "tags": [],
        "owner_id": owner.pk,
        "owner": owner.username,
        "is_public": True,
        "metadata": {},
    }
    return json.dumps({**body, **changes}).encode()


def _append_named(client: Any, owner: Any) -> None:
    for event_type, raw in NAMED.values():
        client.append_to_stream(
            f"pool-{uuid.uuid4()}",
            events=NewEvent(type=event_type, data=raw),
            current_version=StreamState.ANY,
        )
    # Over-long names and a newer schema version, otherwise well formed.
    client.append_to_stream(
        f"pool-{uuid.uuid4()}",
        events=NewEvent(type="StreamCreated", data=_record_body("r", owner, name="x" * 201)),
        current_version=StreamState.NO_STREAM,
    )
    client.append_to_stream(
        f"pool-{uuid.uuid4()}",
        events=NewEvent(
            type="StreamCreated",
            data=_record_body("r", owner),
            metadata=b'{"schema_version": "2"}',
        ),
        current_version=StreamState.NO_STREAM,
    )


@pytest.mark.django_db
def test_every_skipped_event_is_recorded_with_its_reason_and_counted(kdb, raw_client, alice):
    before = metrics.sample("kurrent_projector_skipped_total", env="dev", reason="malformed_json")
    _append_named(raw_client, alice)
    good = external_create(raw_client, alice, "after them")

    projector.catch_up()

    assert StreamRecord.objects.filter(record_id=good).exists()
    skipped = list(SkippedEvent.objects.order_by("position"))
    assert len(skipped) == len(NAMED) + 2
    reasons = [s.reason for s in skipped]
    assert reasons == [
        "unstorable_value",
        "unstorable_value",
        "unstorable_value",
        "malformed_json",
        "malformed_json",
        "wrong_shape",
        "not_created",
        "unknown_type",
        "out_of_range",
        "unsupported_schema_version",
    ]
    assert all(s.env == "dev" and s.stream_name.startswith("pool-") for s in skipped)
    assert all(s.revision == 0 and s.event_id and s.skipped_at for s in skipped)
    assert "NaN" in skipped[0].detail and "surrogate" in skipped[1].detail
    checkpoint = ProjectionCheckpoint.objects.get(env="dev")
    assert checkpoint.skipped_events == len(skipped)
    assert status.sync_status().events_behind == 0
    after = metrics.sample("kurrent_projector_skipped_total", env="dev", reason="malformed_json")
    assert after - before == 2


@pytest.mark.django_db
def test_a_rebuild_skips_them_again_and_ends_as_the_catch_up_did(kdb, raw_client, alice):
    _append_named(raw_client, alice)
    records.create_record(alice, name="Mine", data={"a": "b"})
    projector.catch_up()
    caught_up = tables()
    skipped = sorted(SkippedEvent.objects.values_list("position", "reason"))

    projector.rebuild()

    assert tables() == caught_up
    assert sorted(SkippedEvent.objects.values_list("position", "reason")) == skipped


@pytest.mark.django_db
def test_the_database_refusing_one_event_skips_only_that_one(kdb, raw_client, alice, monkeypatch):
    """Should a value get past the decoder's checks and the database refuse it, the
    batch is applied again one event at a time and only the refused one is skipped."""
    from django.db import DataError

    from kurrent.readmodel import apply

    first = external_create(raw_client, alice, "first")
    refused = external_create(raw_client, alice, "refused by the database")
    last = external_create(raw_client, alice, "last")
    real = apply._Batch._write_kind

    def write_kind(self: Any, name: str, kind: Any) -> None:
        states = [self.states[key] for key in self.positions if key[0] == name]
        if any(getattr(s, "name", "") == "refused by the database" for s in states):
            raise DataError("value out of range")
        real(self, name, kind)

    monkeypatch.setattr(apply._Batch, "_write_kind", write_kind)
    projector.catch_up()

    assert set(StreamRecord.objects.values_list("record_id", flat=True)) == {
        uuid.UUID(first),
        uuid.UUID(last),
    }
    (skipped,) = SkippedEvent.objects.all()
    assert skipped.reason == "database_rejected" and skipped.stream_name == f"pool-{refused}"
    assert "DataError" in skipped.detail


@pytest.mark.django_db
def test_a_database_that_fails_is_retried_not_skipped(kdb, raw_client, alice, monkeypatch):
    from django.db import OperationalError

    from kurrent.readmodel import apply

    good = external_create(raw_client, alice, "kept for later")

    def locked(self: Any, name: str, kind: Any) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(apply._Batch, "_write_kind", locked)
    with pytest.raises(OperationalError):
        projector.catch_up()
    assert projector.checkpoint_position() == 0 and not SkippedEvent.objects.exists()

    monkeypatch.undo()
    projector.catch_up()
    assert StreamRecord.objects.filter(record_id=good).exists()


@pytest.mark.django_db(transaction=True)
def test_the_live_projector_goes_on_past_hostile_events(kdb, raw_client, alice):
    stop = threading.Event()
    live = threading.Thread(
        target=lambda: (projector.run_live("dev", stop, idle_timeout=0.1), connection.close())
    )
    live.start()
    try:
        _append_named(raw_client, alice)
        good = external_create(raw_client, alice, "after them, live")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if retrying(lambda: StreamRecord.objects.filter(record_id=good).exists()):
                break
            time.sleep(0.05)
        assert retrying(lambda: StreamRecord.objects.filter(record_id=good).exists())
    finally:
        stop.set()
        live.join(timeout=20)
    assert not live.is_alive()
    assert retrying(lambda: SkippedEvent.objects.count()) == len(NAMED) + 2


@pytest.mark.django_db
def test_admins_see_the_skipped_events_on_the_status_page(
    client, kdb, raw_client, alice, admin_user
):
    raw_client.append_to_stream(
        f"pool-{uuid.uuid4()}",
        events=NewEvent(type="StreamCreated", data=b'{"x": NaN}'),
        current_version=StreamState.NO_STREAM,
    )
    projector.catch_up()
    admin_user.is_staff = True  # /admin/ wants staff too
    admin_user.save()

    client.force_login(admin_user)
    body = client.get("/kurrent-db-demo/status/").content.decode()
    assert "Skipped events in dev" in body and "unstorable_value" in body
    assert "/admin/kurrent/skippedevent/" in body
    listed = client.get("/admin/kurrent/skippedevent/")
    assert listed.status_code == 200 and "unstorable_value" in listed.content.decode()

    client.force_login(alice)
    assert "Skipped events" not in client.get("/kurrent-db-demo/status/").content.decode()
