"""The projector: checkpointed, idempotent, resumable, and fed by any writer."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from kurrentdbclient import NewEvent, StreamState

from kurrent.models import (
    Activity,
    ProjectionCheckpoint,
    StreamRecord,
    UserDataEntry,
)
from kurrent.readmodel import activity, apply, projector, status
from kurrent.services import records, userdata
from tests.kurrent.readmodel import external_create, retrying, tables

pytestmark = [pytest.mark.readmodel]


@pytest.mark.django_db
class TestCatchUp:
    def test_an_external_writers_event_appears_in_the_read_model(self, kdb, alice, raw_client):
        record_id = external_create(raw_client, alice, "Outside job")

        applied = projector.catch_up()

        assert applied == 1
        record = records.get_record(alice, record_id)
        assert (record.name, record.version, record.tags) == ("Outside job", 0, ("external",))
        assert [r.id for r in records.search_records(alice, "outside").items] == [record_id]

    def test_it_resumes_from_its_checkpoint(self, kdb, alice, raw_client):
        external_create(raw_client, alice, "one")
        projector.catch_up()
        position = ProjectionCheckpoint.objects.get(env="dev").position

        external_create(raw_client, alice, "two")
        assert projector.catch_up() == 1
        assert projector.catch_up() == 0
        assert ProjectionCheckpoint.objects.get(env="dev").position > position
        assert StreamRecord.objects.count() == 2

    def test_unknown_events_are_skipped_and_counted(self, kdb, alice, raw_client):
        record = records.create_record(alice, name="Known", data={})
        stream = f"pool-{record.id}"
        raw_client.append_to_stream(
            stream,
            events=NewEvent(type="ColourChanged", data=b'{"colour": "blue"}'),
            current_version=0,
        )
        raw_client.append_to_stream(  # our type, but not our shape
            f"pool-{uuid.uuid4()}",
            events=NewEvent(type="StreamCreated", data=b'{"name": 42}'),
            current_version=StreamState.NO_STREAM,
        )
        raw_client.append_to_stream(  # not JSON at all
            f"userdata-{alice.pk}-{uuid.uuid4()}",
            events=NewEvent(
                type="UserDataStored", data=b"\xff\xfe", content_type="application/octet-stream"
            ),
            current_version=StreamState.NO_STREAM,
        )
        raw_client.append_to_stream(  # an update of a record that was never created
            f"pool-{uuid.uuid4()}",
            events=NewEvent(type="StreamUpdated", data=b'{"record_id": "x", "changes": {}}'),
            current_version=StreamState.NO_STREAM,
        )
        raw_client.append_to_stream(  # another app's stream: filtered out by prefix
            "orders-1",
            events=NewEvent(type="OrderPlaced", data=b"{}"),
            current_version=StreamState.ANY,
        )

        projector.catch_up()

        sync = status.sync_status()
        assert sync.skipped_events == 4
        assert sync.events_behind == 0
        # The skipped event still moved the version: the next write expects 1.
        assert records.get_record(alice, record.id).version == 1
        changed = records.update_record(alice, record.id, expected_version=1, name="Still known")
        assert changed.version == 2
        assert StreamRecord.objects.count() == 1

    def test_a_failure_before_the_checkpoint_is_stored_rolls_back(
        self, kdb, alice, raw_client, monkeypatch
    ):
        for n in range(5):
            external_create(raw_client, alice, f"record {n}")

        def crash(env: str, envelopes: list) -> None:
            assert StreamRecord.objects.count() == 5  # the rows were written...
            raise RuntimeError("crash between the rows and the checkpoint")

        monkeypatch.setattr(apply, "before_checkpoint", crash)
        with pytest.raises(RuntimeError):
            projector.catch_up()

        # ...and rolled back with the checkpoint.
        assert StreamRecord.objects.count() == 0
        assert Activity.objects.count() == 0
        assert projector.checkpoint_position() == 0

        monkeypatch.setattr(apply, "before_checkpoint", None)  # "after a restart"
        assert projector.catch_up() == 5
        assert projector.catch_up() == 0
        assert StreamRecord.objects.count() == 5
        assert Activity.objects.count() == 5
        assert ProjectionCheckpoint.objects.get(env="dev").events_applied == 5

    def test_a_live_projector_and_the_writers_never_double_apply(self, kdb, alice, our_events):
        """The writers catch up after each append; a batch of the same events handed to
        the projector afterwards (what the live subscription delivers) applies nothing."""
        record = records.create_record(alice, name="v0", data={})
        for version in range(3):
            records.update_record(
                alice, record.id, expected_version=version, name=f"v{version + 1}"
            )
        before = tables()

        assert apply.apply_batch("dev", our_events(), after=0) == 0
        assert projector.catch_up() == 0

        assert tables() == before
        checkpoint = ProjectionCheckpoint.objects.get(env="dev")
        assert checkpoint.position == our_events()[-1].commit_position
        assert checkpoint.events_applied == 4 and checkpoint.skipped_events == 0

    def test_a_rewound_checkpoint_is_caught_up_not_jumped(self, kdb, alice, our_events):
        """A rebuild empties the tables and sets the checkpoint back to 0 while a live
        projector runs. The live projector's next events follow what it saw before, not
        the checkpoint: moving the checkpoint past them would leave the rebuild's
        remaining events unapplied for good."""
        for n in range(3):
            records.create_record(alice, name=f"before {n}", data={})
        seen = our_events()[-1].commit_position  # the live projector had all of these
        projector.reset("dev")  # what rebuild() does first
        records.create_record(alice, name="during", data={})  # its writer catches up
        new = [e for e in our_events() if e.commit_position > seen]

        assert projector._apply_following("dev", new, seen) == new[-1].commit_position

        names = sorted(StreamRecord.objects.values_list("name", flat=True))
        assert names == ["before 0", "before 1", "before 2", "during"]
        checkpoint = ProjectionCheckpoint.objects.get(env="dev")
        assert checkpoint.position == new[-1].commit_position
        assert checkpoint.events_applied == 4
        assert projector.catch_up() == 0

    def test_a_batch_that_does_not_follow_the_checkpoint_is_not_applied(
        self, kdb, alice, our_events
    ):
        for n in range(3):
            records.create_record(alice, name=f"r{n}", data={})
        events = our_events()
        projector.reset("dev")

        assert apply.apply_batch("dev", events[2:], after=events[1].commit_position) is None
        assert projector.checkpoint_position("dev") == 0
        assert not StreamRecord.objects.exists()
        assert projector.catch_up() == 3

    def test_sync_status(self, kdb, alice, raw_client):
        for n in range(3):
            external_create(raw_client, alice, f"r{n}")
        behind = status.sync_status()
        assert behind.events_behind == 3 and not behind.caught_up
        assert behind.head_position > behind.checkpoint_position == 0
        assert behind.seconds_behind >= 0

        projector.catch_up()

        caught_up = status.sync_status()
        assert caught_up.events_behind == 0 and caught_up.seconds_behind == 0
        assert caught_up.checkpoint_position == caught_up.head_position
        assert caught_up.events_applied == 3

    def test_recent_events_respect_privacy(self, kdb, alice, bob, admin_user):
        public = records.create_record(alice, name="Open", data={}, is_public=True)
        private = records.create_record(alice, name="Closed", data={})
        records.update_record(alice, private.id, expected_version=0, name="Closed still")
        hidden = userdata.store_entry(bob, entry_type="data", category="mine", value={})

        feed_for_bob = activity.recent_events(actor=bob)
        feed_for_admin = activity.recent_events(actor=admin_user)
        anonymous = activity.recent_events()

        assert [a.object_id for a in feed_for_bob] == [hidden.id, public.id]
        assert [a.title for a in anonymous] == ["Open"]
        assert len(feed_for_admin) == 4
        assert feed_for_admin[0].position > feed_for_admin[-1].position  # newest first
        newest = feed_for_admin[0].position
        assert activity.recent_events(actor=admin_user, after_position=newest) == []
        # Making the record public makes its history public in the feed too.
        records.update_record(alice, private.id, expected_version=1, is_public=True)
        assert {a.title for a in activity.recent_events(actor=bob)} >= {"Closed still"}


@pytest.mark.django_db
class TestRebuild:
    def test_rebuild_ends_with_the_same_tables_as_incremental(
        self, kdb, alice, bob, admin_user, raw_client
    ):
        kept = records.create_record(alice, name="Kept", data={"a": "b"}, tags="x, y")
        records.update_record(alice, kept.id, expected_version=0, tags=["y", "z"], is_public=True)
        gone = records.create_record(bob, name="Gone", data={}, is_public=True)
        records.delete_record(bob, gone.id)
        entry = userdata.store_entry(bob, entry_type="settings", category="s", value={"k": 1})
        userdata.update_entry(bob, entry.id, expected_version=0, is_public=True)
        external_create(raw_client, alice, "From outside")
        raw_client.append_to_stream(
            f"pool-{kept.id}", events=NewEvent(type="Unknown", data=b"{}"), current_version=1
        )
        temp = userdata.store_entry(alice, entry_type="data", category="tmp", value={})
        userdata.erase_user(admin_user, alice)
        records.create_record(alice, name="After erasure", data={})
        projector.catch_up()
        incremental = tables()

        replayed = projector.rebuild()

        assert replayed == incremental["checkpoint"][0][2]  # events_applied
        rebuilt = tables()
        for name, rows in incremental.items():
            assert rebuilt[name] == rows, name
        assert incremental["records"] and incremental["entries"] and incremental["activity"]
        assert not UserDataEntry.objects.filter(entry_id=temp.id).exists()

    def test_the_rebuild_command_shows_progress(self, kdb, alice, raw_client, capsys):
        for n in range(3):
            external_create(raw_client, alice, f"r{n}")

        call_command("kurrent_rebuild", "--env", "dev")

        out, err = capsys.readouterr()
        assert "Rebuilt dev: 3 event(s) applied, 0 skipped" in out
        assert "rebuilding dev" in err
        assert StreamRecord.objects.count() == 3

    def test_the_projector_command_catches_up_once(self, kdb, alice, raw_client, capsys):
        external_create(raw_client, alice, "r")

        call_command("kurrent_projector", "--once")

        assert "dev: applied 1 event(s)" in capsys.readouterr().out
        assert StreamRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_projectors_running_at_once_apply_each_event_once(kdb, alice, raw_client):
    for n in range(120):
        external_create(raw_client, alice, f"r{n}")
    errors: list[BaseException] = []

    def project() -> None:
        try:
            retrying(projector.catch_up)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=project) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert StreamRecord.objects.count() == 120
    assert Activity.objects.count() == 120
    checkpoint = ProjectionCheckpoint.objects.get(env="dev")
    assert checkpoint.events_applied == 120


@pytest.mark.django_db(transaction=True)
def test_live_mode_applies_another_process_writes(kdb, alice, raw_client):
    stop = threading.Event()
    live = threading.Thread(
        target=lambda: (projector.run_live("dev", stop, idle_timeout=0.1), connection.close())
    )
    live.start()
    try:
        names = [f"live {n}" for n in range(3)]
        for name in names:
            external_create(raw_client, alice, name)
        deadline = time.monotonic() + 20
        seen: set[str] = set()
        while time.monotonic() < deadline and seen != set(names):
            seen = set(retrying(lambda: list(StreamRecord.objects.values_list("name", flat=True))))
            time.sleep(0.05)
        assert seen == set(names)
    finally:
        stop.set()
        live.join(timeout=20)
    assert not live.is_alive()
    assert retrying(lambda: status.sync_status().events_behind) == 0


@pytest.mark.django_db(transaction=True)
def test_live_mode_beside_the_writers_applies_each_event_once(kdb, alice):
    """The writers apply their own events as they write; the live projector receives
    the same events and finds the checkpoint past them, or applies them first: either
    way each is applied once and the checkpoint ends at the head."""
    stop = threading.Event()
    live = threading.Thread(
        target=lambda: (projector.run_live("dev", stop, idle_timeout=0.1), connection.close())
    )
    live.start()
    try:
        # retrying: the in-memory test database locks whole tables between threads; a
        # retried write keeps its idempotency key, so it lands once.
        created = [
            retrying(
                lambda n=n: records.create_record(
                    alice, name=f"writer {n}", data={}, idempotency_key=f"w{n}"
                )
            )
            for n in range(12)
        ]
        retrying(
            lambda: records.update_record(
                alice, created[0].id, expected_version=0, name="writer 0 again", idempotency_key="u"
            )
        )
        head = retrying(lambda: status.sync_status()).head_position
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and projector.checkpoint_position("dev") < head:
            time.sleep(0.05)
        assert projector.checkpoint_position("dev") == head
    finally:
        stop.set()
        live.join(timeout=20)
    assert not live.is_alive()
    assert Activity.objects.count() == 13
    assert ProjectionCheckpoint.objects.get(env="dev").events_applied == 13
    assert StreamRecord.objects.get(record_id=created[0].id).version == 1
    assert retrying(lambda: status.sync_status().events_behind) == 0
