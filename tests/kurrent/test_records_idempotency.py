"""A resubmitted form (same idempotency key) appends once, whatever happened before."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from kurrentdbclient import NewEvent, StreamState

from kurrent.core.errors import Conflict
from kurrent.core.events import content_digest, event_id, object_id, record_stream
from kurrent.services import records

pytestmark = [pytest.mark.readmodel]


@pytest.mark.django_db
class TestIdempotency:
    def test_a_create_resubmitted_with_its_key_appends_once(self, kdb, alice, our_events):
        first = records.create_record(alice, name="Once", data={}, idempotency_key="form-1")
        again = records.create_record(alice, name="Once", data={}, idempotency_key="form-1")

        assert again.id == first.id and again.version == 0
        assert [e.type for e in our_events()] == ["StreamCreated"]
        assert records.list_records(alice).total == 1

    def test_keys_of_different_users_do_not_collide(self, kdb, alice, bob):
        mine = records.create_record(alice, name="A", data={}, idempotency_key="same-key")
        theirs = records.create_record(bob, name="B", data={}, idempotency_key="same-key")

        assert mine.id != theirs.id

    def test_an_update_resubmitted_with_its_key_appends_once(self, kdb, alice, raw_client):
        record = records.create_record(alice, name="Start", data={})

        first = records.update_record(
            alice, record.id, expected_version=0, name="Changed", idempotency_key="edit-1"
        )
        again = records.update_record(
            alice, record.id, expected_version=0, name="Changed", idempotency_key="edit-1"
        )

        assert first.version == again.version == 1
        assert len(raw_client.get_stream(record_stream(record.id))) == 2

    def test_the_same_key_with_a_new_version_is_a_new_change(self, kdb, alice, raw_client):
        record = records.create_record(alice, name="Start", data={})
        records.update_record(alice, record.id, expected_version=0, name="B", idempotency_key="k")

        # A different key on a stale version is a real conflict, not a retry.
        with pytest.raises(Conflict):
            records.update_record(
                alice, record.id, expected_version=0, name="C", idempotency_key="other"
            )
        assert len(raw_client.get_stream(record_stream(record.id))) == 2

    def test_a_retry_after_a_lost_answer_appends_nothing(self, kdb, alice, raw_client, our_events):
        # The first attempt reached KurrentDB but its answer was lost: the event is there
        # (same id), the read model knows nothing. The retry must not append again.
        key = "lost-answer"
        record_id = object_id("record", alice.pk, key)
        stream = record_stream(record_id)
        body = {
            "record_id": record_id,
            "name": "Landed",
            "data": {},
            "tags": [],
            "owner_id": alice.pk,
            "owner": "alice",
            "is_public": False,
            "metadata": {},
        }
        raw_client.append_to_stream(
            stream,
            events=NewEvent(
                type="StreamCreated",
                data=json.dumps(body).encode(),
                # as the app derives it: from the key and what the form submitted
                id=event_id(stream, key, 0, content_digest(body)),
            ),
            current_version=StreamState.NO_STREAM,
        )

        record = records.create_record(alice, name="Landed", data={}, idempotency_key=key)

        assert record.id == record_id and record.version == 0
        assert len(our_events()) == 1
        assert records.get_record(alice, record_id).name == "Landed"

    def test_a_delete_resubmitted_with_its_key_is_quiet(self, kdb, alice, raw_client):
        record = records.create_record(alice, name="Doomed", data={})

        records.delete_record(alice, record.id, expected_version=0, idempotency_key="del-1")
        records.delete_record(alice, record.id, expected_version=0, idempotency_key="del-1")

        assert [e.type for e in raw_client.get_stream(record_stream(record.id))] == [
            "StreamCreated",
            "StreamDeleted",
        ]


@pytest.mark.django_db(transaction=True)
def test_two_threads_updating_one_version_one_wins(kdb, alice, admin_user, raw_client):
    """Two writers at once on version 0: exactly one conflict, the other's change kept."""
    record = records.create_record(alice, name="Contested", data={})
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def edit(user, name):
        try:
            barrier.wait(timeout=10)
            outcomes[name] = records.update_record(user, record.id, expected_version=0, name=name)
        except Conflict as conflict:
            outcomes[name] = conflict
        finally:
            connection.close()

    threads = [
        threading.Thread(target=edit, args=(alice, "by alice")),
        threading.Thread(target=edit, args=(admin_user, "by admin")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    conflicts = [o for o in outcomes.values() if isinstance(o, Conflict)]
    winners = [name for name, o in outcomes.items() if not isinstance(o, Conflict)]
    assert len(conflicts) == 1 and len(winners) == 1
    assert conflicts[0].current.name == winners[0]
    assert records.get_record(alice, record.id).name == winners[0]
    events = raw_client.get_stream(record_stream(record.id))
    assert [e.type for e in events] == ["StreamCreated", "StreamUpdated"]
