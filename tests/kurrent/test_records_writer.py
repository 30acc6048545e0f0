"""The writer's shortcut (projector.apply_written): a create, update or delete through
the services lands in the read model in one transaction, exactly as the projector
would write it; a failed or conflicting append changes nothing; the projector and
the writer never both apply one event."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import OperationalError, connection
from kurrentdbclient import StreamState

from kurrent import prepared, projector, streams, userdata
from kurrent.errors import Conflict, KurrentUnavailable
from kurrent.events import (
    StreamCreated,
    StreamUpdated,
    UserDataStored,
    decode_new,
    encode,
    record_stream,
)
from kurrent.models import (
    Activity,
    ProjectionCheckpoint,
    RecordTag,
    StreamRecord,
    UserDataEntry,
)
from tests.kurrent.readmodel import retrying, tables

pytestmark = [pytest.mark.readmodel]


def _checkpoint() -> int:
    return ProjectionCheckpoint.objects.get(env="dev").position


@pytest.fixture
def started(kdb: Any, alice: Any) -> int:
    """A read model with a checkpoint (an environment's first write creates it);
    returns its position."""
    streams.create_record(alice, name="First", data={})
    return _checkpoint()


@pytest.mark.django_db
class TestShortcut:
    def test_writes_are_applied_by_the_writer_as_a_rebuild_would(
        self, started, alice, bob, our_events
    ):
        record = streams.create_record(alice, name="A", data={"x": "why"}, tags="t1, t2")
        streams.update_record(
            alice, record.id, expected_version=0, tags=["t2", "t3"], is_public=True
        )
        streams.update_record(alice, record.id, expected_version=1, name="B", data={"z": "zed"})
        streams.update_record(alice, record.id, expected_version=2, tags=[], is_public=False)
        other = streams.create_record(bob, name="C", data={}, tags=["t1"], is_public=True)
        streams.delete_record(bob, other.id)
        entry = userdata.store_entry(bob, entry_type="data", category="c", value={"k": "v"})
        userdata.update_entry(bob, entry.id, expected_version=0, is_public=True, tags="a")
        userdata.delete_entry(bob, entry.id)

        assert _checkpoint() == started  # every write above was the writer's own
        assert Activity.objects.count() == len(our_events())
        assert set(RecordTag.objects.values_list("tag", flat=True)) == {"t1"}
        assert not Activity.objects.filter(object_id=record.id, is_public=True).exists()
        written = tables(checkpoint=False)

        projector.rebuild()

        assert tables(checkpoint=False) == written

    def test_the_returned_state_is_what_the_read_model_holds(self, started, alice):
        record = streams.create_record(alice, name="N", data={"a": [1, "b"]}, tags="x")
        changed = streams.update_record(alice, record.id, expected_version=0, data={"c": 2})

        assert streams.get_record(alice, record.id) == changed
        row = StreamRecord.objects.get(record_id=record.id)
        assert row.version == 1 and row.position == Activity.objects.latest("position").position

    def test_a_conflict_changes_nothing(self, started, alice):
        record = streams.create_record(alice, name="A", data={}, tags="t")
        streams.update_record(alice, record.id, expected_version=0, name="B")
        before = tables(checkpoint=False)

        with pytest.raises(Conflict):
            streams.update_record(alice, record.id, expected_version=0, tags="u", is_public=True)

        assert tables(checkpoint=False) == before

    def test_an_append_that_fails_changes_nothing(self, started, alice, kdb, settings):
        record = streams.create_record(alice, name="A", data={}, tags="t")
        before = tables(checkpoint=False)
        settings.KURRENTDB_TIMEOUT_MS = 1000
        kdb.stop()

        with pytest.raises(KurrentUnavailable):
            streams.create_record(alice, name="B", data={}, tags="t")
        with pytest.raises(KurrentUnavailable):
            streams.update_record(alice, record.id, expected_version=0, name="C", tags="u")

        assert tables(checkpoint=False) == before

    def test_an_event_the_projector_applied_first_is_not_applied_again(
        self, started, alice, raw_client
    ):
        record = streams.create_record(alice, name="A", data={}, tags="t")
        stream = record_stream(record.id)
        event = StreamUpdated(record_id=record.id, changes={"name": "B", "tags": ["u"]})
        new_event = encode(event, stream=stream, actor=alice, idempotency_key=None)
        position = raw_client.append_to_stream(stream, events=new_event, current_version=0)
        projector.catch_up()  # the live projector got there first
        applied = tables(checkpoint=False)

        again = projector.apply_written(
            "dev", new_event, stream=stream, before=record, position=position, event=event
        )

        assert again is None
        assert tables(checkpoint=False) == applied

    def test_a_row_that_moved_on_is_left_alone(self, started, alice, raw_client):
        record = streams.create_record(alice, name="A", data={})
        streams.update_record(alice, record.id, expected_version=0, name="B")
        stream = record_stream(record.id)
        event = StreamUpdated(record_id=record.id, changes={"name": "stale"})
        new_event = encode(event, stream=stream, actor=alice, idempotency_key=None)
        before = tables(checkpoint=False)

        # Based on version 0, but the row is at version 1: not applied.
        assert (
            projector.apply_written(
                "dev", new_event, stream=stream, before=record, position=10**12, event=event
            )
            is None
        )
        assert tables(checkpoint=False) == before

    def test_a_database_error_falls_back_to_catching_up(self, started, alice, monkeypatch, caplog):
        def broken(*args: Any) -> bool:
            raise OperationalError("database is locked")

        monkeypatch.setattr(projector._Writer, "run", broken)
        monkeypatch.setattr(projector._Writer, "run_in_one", broken)

        record = streams.create_record(alice, name="Still there", data={}, tags="t")

        assert streams.get_record(alice, record.id).name == "Still there"
        assert _checkpoint() > 0 and "applying a write failed" in caplog.text
        assert list(RecordTag.objects.values_list("tag", flat=True)) == ["t"]

    def test_an_environments_first_write_creates_its_checkpoint(self, kdb, alice):
        assert not ProjectionCheckpoint.objects.exists()

        record = streams.create_record(alice, name="First", data={}, tags="t")

        assert streams.get_record(alice, record.id).tags == ("t",)
        assert _checkpoint() == 0 and Activity.objects.count() == 1


@pytest.mark.django_db
class TestExactness:
    def test_a_row_fetched_without_the_orm_is_the_orms(self, started, alice, bob):
        record = streams.create_record(alice, name="R", data={"é": ["ü", 1.5]}, tags="t")
        entry = userdata.store_entry(bob, entry_type="data", category="c", value={"k": None})

        for model, field, key in (
            (StreamRecord, "record_id", record.id),
            (UserDataEntry, "entry_id", entry.id),
        ):
            fetched = prepared.fetch_one(model, {"env": "dev", field: key})
            orm = model.objects.get(env="dev", **{field: key})
            for f in model._meta.concrete_fields:
                assert getattr(fetched, f.attname) == getattr(orm, f.attname), f.attname
            assert fetched.pk == orm.pk and not fetched._state.adding
        assert prepared.fetch_one(StreamRecord, {"env": "dev", "record_id": entry.id}) is None

    @pytest.mark.parametrize(
        "event",
        [
            StreamCreated("r", "n" * 200, {"a": [1, {"b": None}]}, ["t"], 7, "o" * 150, True, {}),
            StreamCreated("r", "too long" * 30, {}, [], 7, "o", True, {}),  # over 200
            StreamCreated("r", "n", {"nul": "\x00"}, [], 7, "o", True, {}),
            StreamCreated("r", "n", {}, [], True, "o", True, {}),  # a bool is no owner id
            StreamUpdated("r", {"tags": ["a"], "is_public": False}),
            StreamUpdated("r", {"owner": "not a change of ours"}),
            UserDataStored("e", 7, "o", "data", "c", {"v": 1}, ["t"], False, key="k"),
        ],
    )
    def test_our_own_event_decodes_as_its_json_would(self, event, alice):
        new_event = encode(event, stream="pool-x", actor=alice, idempotency_key=None)
        kwargs = {"stream": "pool-x", "revision": 3, "position": 9}

        assert decode_new(new_event, **kwargs, event=event) == decode_new(new_event, **kwargs)
        assert json.loads(new_event.data) == {
            f: getattr(event, f) for f in event.__dataclass_fields__
        }


def _half_written(raw_client: Any, alice: Any) -> tuple[Any, str]:
    """An event appended as create_record would, and an Activity row already at its
    position, so the writer's last statement fails after the row and tags are written."""
    record_id = str(uuid.uuid4())
    stream = record_stream(record_id)
    event = StreamCreated(record_id, "Half", {"a": "b"}, ["t"], alice.pk, "alice", True, {})
    new_event = encode(event, stream=stream, actor=alice, idempotency_key=None)
    position = raw_client.append_to_stream(
        stream, events=new_event, current_version=StreamState.NO_STREAM
    )
    Activity.objects.create(
        env="dev",
        position=position,
        stream_name="other",
        event_type="Other",
        kind="record",
        object_id="x",
        recorded_at=datetime.now(UTC),
    )
    written = projector.apply_written(
        "dev", new_event, stream=stream, before=None, position=position, event=event
    )
    return written, record_id


@pytest.mark.django_db
def test_a_failing_statement_leaves_nothing_half_written(started, alice, raw_client):
    written, record_id = _half_written(raw_client, alice)

    assert written is None
    assert not StreamRecord.objects.filter(record_id=record_id).exists()
    assert not RecordTag.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failing_statement_leaves_nothing_half_written_in_its_own_transaction(
    started, alice, raw_client
):
    written, record_id = _half_written(raw_client, alice)

    assert written is None
    assert not StreamRecord.objects.filter(record_id=record_id).exists()
    assert not RecordTag.objects.exists()
    streams.create_record(alice, name="Next", data={})  # the connection is usable
    assert StreamRecord.objects.filter(name="Next").exists()


@pytest.mark.django_db(transaction=True)
def test_writers_at_once_apply_each_event_once(kdb, alice, bob, our_events):
    """Threads creating and updating records at once (each its own database connection):
    every event is in the read model once, whoever applied it."""
    streams.create_record(alice, name="First", data={})
    errors: list[BaseException] = []

    def write(user: Any, n: int) -> None:
        # SQLite's shared in-memory test database locks whole tables, so a read may fail:
        # then the write is submitted again with its idempotency key, as a user would.
        try:
            for i in range(4):
                record = retrying(
                    lambda i=i: streams.create_record(
                        user, name=f"{n}-{i}", data={}, tags=f"t{i}", idempotency_key=f"c{n}-{i}"
                    )
                )
                retrying(
                    lambda i=i, record=record: streams.update_record(
                        user,
                        record.id,
                        expected_version=0,
                        name=f"{n}-{i}!",
                        idempotency_key=f"u{n}-{i}",
                    )
                )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(u, n)) for n, u in enumerate([alice, bob] * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    retrying(projector.catch_up)

    assert errors == []
    assert StreamRecord.objects.count() == 17
    assert set(StreamRecord.objects.values_list("version", flat=True)) == {0, 1}
    positions = [e.commit_position for e in our_events()]
    assert sorted(Activity.objects.values_list("position", flat=True)) == sorted(positions)
    assert RecordTag.objects.count() == 16
