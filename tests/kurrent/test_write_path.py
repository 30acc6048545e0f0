"""The write path: a create, update or delete through the services is appended, then
applied by the projector's batch (the read model's one writer) up to the append's
position before the service returns, so the writer sees it at once and the read model
is exactly what a rebuild makes; a failed or conflicting append changes nothing."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import OperationalError, connection

from kurrent.core.errors import Conflict, KurrentUnavailable
from kurrent.core.events import StreamCreated, StreamUpdated, UserDataStored, decode_new, encode
from kurrent.models import Activity, ProjectionCheckpoint, RecordTag, StreamRecord
from kurrent.readmodel import apply, projector
from kurrent.services import records, userdata
from tests.kurrent.readmodel import external_create, retrying, tables

pytestmark = [pytest.mark.readmodel]


def _checkpoint() -> int:
    return ProjectionCheckpoint.objects.get(env="dev").position


@pytest.mark.django_db
class TestReadYourWrites:
    def test_every_write_is_in_the_read_model_when_the_service_returns(
        self, kdb, alice, bob, our_events
    ):
        record = records.create_record(alice, name="A", data={"x": "why"}, tags="t1, t2")
        assert records.list_records(alice).items == [record]
        changed = records.update_record(
            alice, record.id, expected_version=0, tags=["t2", "t3"], is_public=True
        )
        assert records.get_record(bob, record.id) == changed
        records.update_record(alice, record.id, expected_version=1, name="B", data={"z": "zed"})
        records.update_record(alice, record.id, expected_version=2, tags=[], is_public=False)
        other = records.create_record(bob, name="C", data={}, tags=["t1"], is_public=True)
        records.delete_record(bob, other.id)
        entry = userdata.store_entry(bob, entry_type="data", category="c", value={"k": "v"})
        userdata.update_entry(bob, entry.id, expected_version=0, is_public=True, tags="a")
        assert userdata.get_entry(alice, entry.id).is_public
        userdata.delete_entry(bob, entry.id)

        assert _checkpoint() == our_events()[-1].commit_position
        assert Activity.objects.count() == len(our_events())
        assert set(RecordTag.objects.values_list("tag", flat=True)) == {"t1"}
        assert not Activity.objects.filter(object_id=record.id, is_public=True).exists()
        written = tables()

        projector.rebuild()

        assert tables() == written

    def test_the_returned_state_is_what_the_read_model_holds(self, kdb, alice):
        record = records.create_record(alice, name="N", data={"a": [1, "b"]}, tags="x")
        changed = records.update_record(alice, record.id, expected_version=0, data={"c": 2})

        assert records.get_record(alice, record.id) == changed
        row = StreamRecord.objects.get(record_id=record.id)
        assert row.version == 1 and row.position == Activity.objects.latest("position").position

    def test_another_programs_events_before_ours_are_applied_with_it(self, kdb, alice, raw_client):
        first = records.create_record(alice, name="A", data={})
        stream = f"pool-{first.id}"
        event = StreamUpdated(record_id=first.id, changes={"name": "From elsewhere"})
        raw_client.append_to_stream(
            stream,
            events=encode(event, stream=stream, actor=alice, idempotency_key=None),
            current_version=0,
        )

        records.create_record(alice, name="Mine", data={})

        assert records.get_record(alice, first.id).name == "From elsewhere"

    def test_a_conflict_changes_nothing(self, kdb, alice):
        record = records.create_record(alice, name="A", data={}, tags="t")
        records.update_record(alice, record.id, expected_version=0, name="B")
        before = tables()

        with pytest.raises(Conflict):
            records.update_record(alice, record.id, expected_version=0, tags="u", is_public=True)

        assert tables() == before

    def test_an_append_that_fails_changes_nothing(self, kdb, alice, settings):
        record = records.create_record(alice, name="A", data={}, tags="t")
        before = tables()
        settings.KURRENTDB_TIMEOUT_MS = 1000
        kdb.stop()

        with pytest.raises(KurrentUnavailable):
            records.create_record(alice, name="B", data={}, tags="t")
        with pytest.raises(KurrentUnavailable):
            records.update_record(alice, record.id, expected_version=0, name="C", tags="u")

        assert tables() == before

    def test_a_database_that_fails_delays_the_read_model_only(
        self, kdb, alice, monkeypatch, caplog
    ):
        records.create_record(alice, name="First", data={})
        real = apply.apply_batch

        def locked(*args: Any, **kwargs: Any) -> Any:
            raise OperationalError("database is locked")

        monkeypatch.setattr(projector, "apply_batch", locked)
        record = records.create_record(alice, name="Still there", data={}, tags="t")

        assert record.name == "Still there" and record.version == 0  # folded, as appended
        assert "not caught up" in caplog.text
        assert not StreamRecord.objects.filter(record_id=record.id).exists()
        monkeypatch.setattr(projector, "apply_batch", real)
        assert records.get_record(alice, record.id).tags == ("t",)  # caught up on reading

    def test_an_environments_first_write_creates_its_checkpoint(self, kdb, alice):
        assert not ProjectionCheckpoint.objects.exists()

        record = records.create_record(alice, name="First", data={}, tags="t")

        assert records.get_record(alice, record.id).tags == ("t",)
        assert _checkpoint() > 0 and Activity.objects.count() == 1


@pytest.mark.django_db
class TestExactness:
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


@pytest.mark.django_db(transaction=True)
def test_writers_at_once_apply_each_event_once(kdb, alice, bob, our_events):
    """Threads creating and updating records at once (each its own database connection):
    every event is in the read model once, whoever applied it."""
    records.create_record(alice, name="First", data={})
    errors: list[BaseException] = []

    def write(user: Any, n: int) -> None:
        # SQLite's shared in-memory test database locks whole tables, so a read may fail:
        # then the write is submitted again with its idempotency key, as a user would.
        try:
            for i in range(4):
                record = retrying(
                    lambda i=i: records.create_record(
                        user, name=f"{n}-{i}", data={}, tags=f"t{i}", idempotency_key=f"c{n}-{i}"
                    )
                )
                retrying(
                    lambda i=i, record=record: records.update_record(
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


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_while_the_app_writes_ends_with_every_write(kdb, alice, raw_client, our_events):
    """A rebuild (emptying the tables, replaying from the start) in one connection while
    writers append and catch up in another: whoever finds the checkpoint set back reads
    on from it, so nothing is lost or applied twice, and the result is a clean rebuild's."""
    for n in range(400):  # enough for the rebuild to take a while
        external_create(raw_client, alice, f"before {n}")
    projector.catch_up()
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            retrying(projector.rebuild)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    rebuilding = threading.Thread(target=rebuild)
    rebuilding.start()
    written = [
        retrying(
            lambda n=n: records.create_record(
                alice, name=f"during {n}", data={}, idempotency_key=f"d{n}"
            )
        )
        for n in range(15)
    ]
    rebuilding.join(timeout=120)
    retrying(projector.catch_up)

    assert errors == [] and not rebuilding.is_alive()
    names = set(StreamRecord.objects.values_list("name", flat=True))
    assert names == {f"before {n}" for n in range(400)} | {r.name for r in written}
    assert Activity.objects.count() == len(our_events()) == 415
    after_both = tables()
    projector.rebuild()
    assert tables() == after_both
