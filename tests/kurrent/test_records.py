"""Stream records through kurrent.services.records, against a real embedded node.

The story: alice (editor) creates a record, reads it back at its version, changes it
with the version she saw, sees who changed what and when, and deletes it; her history
stays readable. Bad input names its field and appends nothing.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.contrib.auth.models import AnonymousUser

from kurrent.core.errors import Conflict, Forbidden, NotFound, ValidationError
from kurrent.core.events import record_stream
from kurrent.services import records

pytestmark = [pytest.mark.django_db, pytest.mark.readmodel]


def _create(user, **extra):
    values = {
        "name": "Emperor colony census",
        "data": {"site": "Atka Bay", "count": 9000, "notes": ["chicks fledged early"]},
        "tags": ["census", "emperor"],
    }
    values.update(extra)
    return records.create_record(user, **values)


class TestCreate:
    def test_it_appends_stream_created_and_returns_the_record(self, kdb, alice, raw_client):
        record = _create(alice, metadata={"source": "field team"})

        assert record.version == 0
        assert record.name == "Emperor colony census"
        assert record.owner == "alice" and record.owner_id == alice.pk
        assert record.tags == ("census", "emperor")
        assert record.is_public is False
        events = raw_client.get_stream(record_stream(record.id))
        assert [e.type for e in events] == ["StreamCreated"]
        assert events[0].content_type == "application/json"
        data = json.loads(events[0].data)
        assert data["name"] == "Emperor colony census"
        assert data["metadata"] == {"source": "field team"}
        meta = json.loads(events[0].metadata)
        assert meta["actor"] == "alice" and meta["actor_id"] == str(alice.pk)
        assert meta["schema_version"] == "1" and meta["$correlationId"] and meta["timestamp"]

    def test_it_accepts_json_text_and_tag_text(self, kdb, alice):
        record = _create(alice, data='{"a": {"b": [1, "two"]}}', tags="one, Two three")

        assert record.data == {"a": {"b": [1, "two"]}}
        assert record.tags == ("one", "two", "three")

    def test_the_writer_sees_it_in_lists_at_once(self, kdb, alice):
        record = _create(alice)

        page = records.list_records(alice)

        assert [r.id for r in page.items] == [record.id]

    def test_it_requires_a_writer_role(self, kdb, carol, our_events):
        with pytest.raises(Forbidden):
            _create(carol)
        with pytest.raises(Forbidden):
            _create(AnonymousUser())
        assert our_events() == []


class TestValidation:
    @pytest.mark.parametrize(
        ("values", "field"),
        [
            ({"name": ""}, "name"),
            ({"name": "   "}, "name"),
            ({"name": "x" * 201}, "name"),
            ({"name": 42}, "name"),
            ({"data": "{not json"}, "data"),
            ({"data": "[1, 2]"}, "data"),
            ({"data": ["a"]}, "data"),
            ({"data": '{"n": NaN}'}, "data"),
            ({"data": {"bad": "nul\x00char"}}, "data"),
            ({"data": {"x": object()}}, "data"),
            ({"tags": [f"t{n}" for n in range(21)]}, "tags"),
            ({"tags": ["fine", "not fine!"]}, "tags"),
            ({"tags": ["x" * 41]}, "tags"),
            ({"tags": [3]}, "tags"),
            ({"metadata": "[]"}, "metadata"),
            ({"is_public": "maybe"}, "is_public"),
            ({"idempotency_key": "k" * 201}, "idempotency_key"),
        ],
    )
    def test_bad_input_names_the_field_and_appends_nothing(
        self, kdb, alice, our_events, values, field
    ):
        with pytest.raises(ValidationError) as info:
            _create(alice, **values)

        assert info.value.field == field
        assert our_events() == []

    def test_data_over_the_configured_size_is_refused(self, kdb, alice, our_events, settings):
        settings.KURRENT_RECORD_MAX_DATA_BYTES = 2048

        with pytest.raises(ValidationError) as info:
            _create(alice, data={"blob": "x" * 2048})

        assert info.value.field == "data" and "2048" in info.value.message
        assert our_events() == []
        assert _create(alice, data={"blob": "x" * 1000}).version == 0

    def test_a_bad_update_appends_nothing(self, kdb, alice, our_events):
        record = _create(alice)

        for values, field in (
            ({"name": ""}, "name"),
            ({"data": "nope"}, "data"),
            ({"tags": "UPPER CASE ok, bad/tag"}, "tags"),
            ({"expected_version": -1}, "expected_version"),
        ):
            kwargs = {"expected_version": 0, **values}
            with pytest.raises(ValidationError) as info:
                records.update_record(alice, record.id, **kwargs)
            assert info.value.field == field
        assert len(our_events()) == 1

    def test_unknown_ids_are_not_found(self, kdb, alice):
        for bad in (str(uuid.uuid4()), "not-a-uuid", ""):
            with pytest.raises(NotFound):
                records.get_record(alice, bad)
            with pytest.raises(NotFound):
                records.update_record(alice, bad, expected_version=0, name="x")
            with pytest.raises(NotFound):
                records.delete_record(alice, bad)
            with pytest.raises(NotFound):
                records.record_history(alice, bad)


class TestReadAndUpdate:
    def test_get_returns_the_current_version(self, kdb, alice):
        record = _create(alice)
        records.update_record(alice, record.id, expected_version=0, name="Renamed")

        current = records.get_record(alice, record.id)

        assert current.version == 1 and current.name == "Renamed"
        assert current.data == record.data  # unchanged fields are kept

    def test_update_appends_only_the_changed_fields(self, kdb, alice, raw_client):
        record = _create(alice)

        updated = records.update_record(
            alice,
            record.id,
            expected_version=0,
            name=record.name,  # the same: not an change
            tags=["census", "emperor", "2026"],
            is_public=True,
        )

        assert updated.version == 1 and updated.is_public and "2026" in updated.tags
        last = raw_client.get_stream(record_stream(record.id))[-1]
        assert last.type == "StreamUpdated"
        assert json.loads(last.data)["changes"] == {
            "tags": ["census", "emperor", "2026"],
            "is_public": True,
        }

    def test_an_update_that_changes_nothing_appends_nothing(self, kdb, alice, our_events):
        record = _create(alice)

        same = records.update_record(alice, record.id, expected_version=0, name=record.name)

        assert same.version == 0
        assert len(our_events()) == 1

    def test_a_stale_version_is_a_conflict_with_the_current_record(self, kdb, alice, bob):
        record = _create(alice)
        records.update_record(alice, record.id, expected_version=0, name="First")

        with pytest.raises(Conflict) as info:
            records.update_record(alice, record.id, expected_version=0, name="Second")

        assert info.value.current_version == 1
        assert info.value.current.name == "First"
        assert records.get_record(alice, record.id).name == "First"

    def test_two_writers_on_one_version_exactly_one_conflicts(
        self, kdb, alice, admin_user, raw_client
    ):
        record = _create(alice)
        outcomes = []
        for user, name in ((alice, "Alice's name"), (admin_user, "Admin's name")):
            try:
                records.update_record(user, record.id, expected_version=0, name=name)
                outcomes.append("ok")
            except Conflict as conflict:
                outcomes.append(conflict)

        assert outcomes[0] == "ok"
        assert isinstance(outcomes[1], Conflict)
        assert outcomes[1].current.name == "Alice's name"  # no lost update
        history = records.record_history(alice, record.id)
        assert [h.event_type for h in history] == ["StreamCreated", "StreamUpdated"]
        assert history[1].changes == {"name": {"old": record.name, "new": "Alice's name"}}
        assert len(raw_client.get_stream(record_stream(record.id))) == 2

    def test_only_the_owner_or_an_admin_changes_or_deletes(self, kdb, alice, bob, admin_user):
        record = _create(alice, is_public=True)

        with pytest.raises(Forbidden):
            records.update_record(bob, record.id, expected_version=0, name="Mine now")
        with pytest.raises(Forbidden):
            records.delete_record(bob, record.id)
        changed = records.update_record(admin_user, record.id, expected_version=0, name="Fixed")
        assert changed.name == "Fixed" and changed.owner == "alice"
        records.delete_record(admin_user, record.id, expected_version=1)
        with pytest.raises(NotFound):
            records.get_record(alice, record.id)

    def test_private_records_are_read_only_by_owner_and_admin(
        self, kdb, alice, bob, carol, admin_user
    ):
        private = _create(alice)
        public = _create(alice, name="Public one", is_public=True)

        for outsider in (bob, carol):
            with pytest.raises(Forbidden):
                records.get_record(outsider, private.id)
            with pytest.raises(Forbidden):
                records.record_history(outsider, private.id)
            with pytest.raises(Forbidden):
                records.record_at_version(outsider, private.id, 0)
            assert records.get_record(outsider, public.id).name == "Public one"
        assert records.get_record(admin_user, private.id).id == private.id
        with pytest.raises(Forbidden):
            records.get_record(AnonymousUser(), public.id)


class TestDeleteAndHistory:
    def test_delete_is_an_event_and_history_stays(self, kdb, alice, admin_user, bob, raw_client):
        record = _create(alice)
        records.update_record(alice, record.id, expected_version=0, name="Renamed")
        records.update_record(alice, record.id, expected_version=1, tags=["census"])

        records.delete_record(alice, record.id, expected_version=2)

        assert [e.type for e in raw_client.get_stream(record_stream(record.id))] == [
            "StreamCreated",
            "StreamUpdated",
            "StreamUpdated",
            "StreamDeleted",
        ]
        with pytest.raises(NotFound):
            records.get_record(alice, record.id)
        assert records.list_records(alice).total == 0
        with pytest.raises(NotFound):
            records.update_record(alice, record.id, expected_version=3, name="Back?")
        for reader in (alice, admin_user):
            history = records.record_history(reader, record.id)
            assert [h.version for h in history] == [0, 1, 2, 3]
            assert [h.actor for h in history] == ["alice"] * 4
            assert history[1].changes == {"name": {"old": record.name, "new": "Renamed"}}
            assert history[2].changes == {"tags": {"old": ["census", "emperor"], "new": ["census"]}}
            assert history[3].changes == {"deleted": {"old": False, "new": True}}
            assert history[0].changes["name"] == {"old": None, "new": record.name}
            assert all(h.recorded_at for h in history)
        with pytest.raises(Forbidden):
            records.record_history(bob, record.id)

    def test_delete_with_a_stale_version_conflicts(self, kdb, alice):
        record = _create(alice)
        records.update_record(alice, record.id, expected_version=0, name="Newer")

        with pytest.raises(Conflict) as info:
            records.delete_record(alice, record.id, expected_version=0)

        assert info.value.current_version == 1
        assert records.get_record(alice, record.id).name == "Newer"

    def test_the_record_at_any_version_and_diffs(self, kdb, alice):
        record = _create(alice)
        records.update_record(alice, record.id, expected_version=0, name="Second name")
        records.update_record(
            alice, record.id, expected_version=1, data={"site": "Halley"}, tags=[]
        )

        first = records.record_at_version(alice, record.id, 0)
        second = records.record_at_version(alice, record.id, 1)
        third = records.record_at_version(alice, record.id, 2)

        assert (first.name, first.version) == (record.name, 0)
        assert (second.name, second.data, second.version) == ("Second name", record.data, 1)
        assert (third.data, third.tags, third.version) == ({"site": "Halley"}, (), 2)
        assert records.diff_versions(alice, record.id, 0, 2) == {
            "name": {"old": record.name, "new": "Second name"},
            "data": {"old": record.data, "new": {"site": "Halley"}},
            "tags": {"old": ["census", "emperor"], "new": []},
        }
        assert records.diff_versions(alice, record.id, 2, 2) == {}
        with pytest.raises(ValidationError) as info:
            records.record_at_version(alice, record.id, 3)
        assert info.value.field == "version"
        with pytest.raises(ValidationError) as info:
            records.diff_versions(alice, record.id, 0, 9)
        assert info.value.field == "to_version"
