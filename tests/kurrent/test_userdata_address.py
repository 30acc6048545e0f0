"""User data addressed as the original store did: (user, type, category) names one entry.

Against a real embedded node: storeUserData / getUserData / updateUserData as
store_user_data / get_user_data / update_user_data, and the rule that a second store to
one address never makes a second entry, in the service, in KurrentDB (one stream per
address) and in the read model (a unique constraint on live rows).
"""

from __future__ import annotations

import json
import uuid

import pytest
from kurrentdbclient import NewEvent, StreamState

from kurrent.core.errors import Conflict, Forbidden, NotFound, ValidationError
from kurrent.core.events import entry_address_id, userdata_stream
from kurrent.models import SkippedEvent, UserDataEntry
from kurrent.readmodel import projector
from kurrent.services import pipeline, userdata

pytestmark = [pytest.mark.django_db, pytest.mark.readmodel]


def _types(raw_client, entry) -> list[str]:
    return [e.type for e in raw_client.get_stream(userdata_stream(entry.owner_id, entry.id))]


class TestStore:
    def test_a_second_store_to_one_address_is_a_conflict_not_a_second_entry(
        self, kdb, alice, our_events
    ):
        first = userdata.store_user_data(alice, "profile", "about", {"bio": "gentoo fan"})

        with pytest.raises(Conflict) as info:
            userdata.store_user_data(alice, "profile", "about", {"bio": "adelie fan"})

        assert info.value.current.id == first.id and info.value.current_version == 0
        assert len(our_events()) == 1
        assert UserDataEntry.objects.filter(owner_id=alice.pk, category="about").count() == 1

    def test_storing_with_the_version_seen_updates_the_entry(self, kdb, alice, raw_client):
        first = userdata.store_user_data(alice, "profile", "about", {"bio": "gentoo fan"})

        second = userdata.store_user_data(
            alice, "profile", "about", {"bio": "adelie fan"}, True, expected_version=0
        )

        assert (second.id, second.version) == (first.id, 1)
        assert second.value == {"bio": "adelie fan"} and second.is_public
        assert _types(raw_client, second) == ["UserDataStored", "UserDataUpdated"]
        with pytest.raises(Conflict) as info:  # the version seen has moved on
            userdata.store_user_data(alice, "profile", "about", {"bio": "x"}, expected_version=0)
        assert info.value.current_version == 1
        assert _types(raw_client, second) == ["UserDataStored", "UserDataUpdated"]

    def test_the_address_names_the_stream(self, kdb, alice):
        entry = userdata.store_user_data(alice, "settings", "alerts", {"email": True})

        assert entry.id == entry_address_id(alice.pk, "settings", "alerts")
        assert entry.id != entry_address_id(alice.pk, "settings", "Alerts")

    def test_a_store_the_read_model_has_not_seen_still_meets_the_first(
        self, kdb, alice, monkeypatch, our_events
    ):
        # The read model lags (another app process stored it a moment ago): the second
        # store looks for the address in the read model, finds nothing, and tries to
        # create the address's stream, which KurrentDB refuses: a conflict.
        monkeypatch.setattr(pipeline, "catch_up_quietly", lambda env, position=None: False)
        userdata.store_user_data(alice, "profile", "about", {"bio": "first"})
        assert not UserDataEntry.objects.exists()

        with pytest.raises(Conflict) as info:
            userdata.store_user_data(alice, "profile", "about", {"bio": "second"})

        assert info.value.current.value == {"bio": "first"}
        assert len(our_events()) == 1

    def test_a_resubmitted_store_appends_once(self, kdb, alice, our_events):
        first = userdata.store_user_data(alice, "data", "n", {"a": 1}, idempotency_key="k1")
        again = userdata.store_user_data(alice, "data", "n", {"a": 1}, idempotency_key="k1")

        assert again.id == first.id and again.version == 0
        assert len(our_events()) == 1

    def test_storing_to_a_deleted_address_brings_the_entry_back(self, kdb, alice, raw_client):
        entry = userdata.store_user_data(alice, "profile", "about", {"bio": "old"}, tags="a")
        userdata.delete_user_data(alice, alice, "profile", "about", expected_version=0)

        back = userdata.store_user_data(alice, "profile", "about", {"bio": "new"})

        assert back.id == entry.id and not back.deleted and back.version == 3
        assert back.value == {"bio": "new"} and back.tags == ("a",)
        assert _types(raw_client, back) == [
            "UserDataStored",
            "UserDataDeleted",
            "UserDataRestored",
            "UserDataUpdated",
        ]
        assert userdata.get_user_entry(alice, alice, "profile", "about") == back

    def test_an_erased_user_stores_to_the_same_address_again(self, kdb, alice, admin_user):
        userdata.store_user_data(alice, "profile", "about", {"bio": "old"})
        userdata.erase_user(admin_user, alice)

        fresh = userdata.store_user_data(alice, "profile", "about", {"bio": "fresh"})

        assert fresh.id == entry_address_id(alice.pk, "profile", "about", 1)
        assert userdata.get_user_data(alice, alice, "profile") == {"about": fresh}
        projector.rebuild()
        assert userdata.get_user_data(alice, alice, "profile") == {"about": fresh}

    def test_only_an_admin_stores_for_another_user(self, kdb, alice, bob, admin_user):
        with pytest.raises(Forbidden):
            userdata.store_user_data(bob, "profile", "about", {"bio": "x"}, user=alice)

        entry = userdata.store_user_data(admin_user, "profile", "about", {"bio": "x"}, user=alice)

        assert (entry.owner, entry.owner_id) == ("alice", alice.pk)

    @pytest.mark.parametrize(
        ("args", "field"),
        [
            (("secrets", "c", {}), "entry_type"),
            (("profile", " ", {}), "category"),
            (("profile", "c", "[1]"), "value"),
            (("profile", "c", "{bad"), "value"),
        ],
    )
    def test_bad_input_names_the_field_and_appends_nothing(
        self, kdb, alice, our_events, args, field
    ):
        with pytest.raises(ValidationError) as info:
            userdata.store_user_data(alice, *args)
        assert info.value.field == field
        assert our_events() == []


class TestReadByAddress:
    def test_get_user_data_gives_the_categories_of_a_type(self, kdb, alice, bob):
        about = userdata.store_user_data(alice, "profile", "about", {"bio": "hi"}, True)
        contact = userdata.store_user_data(alice, "profile", "contact", {"email": "a@x.org"})
        userdata.store_user_data(alice, "settings", "alerts", {"email": True})

        assert userdata.get_user_data(alice, alice, "profile") == {
            "about": about,
            "contact": contact,
        }
        # Another user sees the public categories only; a private one looks absent.
        assert userdata.get_user_data(bob, alice.pk, "profile") == {"about": about}
        with pytest.raises(NotFound):
            userdata.get_user_entry(bob, alice, "profile", "contact")
        assert userdata.get_user_entry(bob, alice, "profile", "about") == about

    def test_update_and_delete_by_address(self, kdb, alice, bob):
        userdata.store_user_data(alice, "preferences", "display", {"theme": "dark"})

        changed = userdata.update_user_data(
            alice, alice, "preferences", "display", {"theme": "light"}, expected_version=0
        )
        assert (changed.version, changed.value) == (1, {"theme": "light"})
        with pytest.raises(Conflict):
            userdata.update_user_data(
                alice, alice, "preferences", "display", {"theme": "system"}, expected_version=0
            )
        with pytest.raises(NotFound):
            userdata.update_user_data(
                alice, alice, "preferences", "nothing", {"theme": "system"}, expected_version=0
            )
        with pytest.raises(NotFound):  # bob cannot see alice's private entry at all
            userdata.delete_user_data(bob, alice, "preferences", "display")

        userdata.delete_user_data(alice, alice, "preferences", "display", expected_version=1)
        assert userdata.get_user_data(alice, alice, "preferences") == {}

        back = userdata.restore_user_data(alice, alice, "preferences", "display")
        assert (back.version, back.value, back.deleted) == (3, {"theme": "light"}, False)

    def test_the_category_cannot_be_changed(self, kdb, alice, our_events):
        entry = userdata.store_user_data(alice, "profile", "about", {"bio": "hi"})

        with pytest.raises(ValidationError) as info:
            userdata.update_entry(alice, entry.id, expected_version=0, category="elsewhere")

        assert info.value.field == "category"
        assert len(our_events()) == 1


def _store_elsewhere(raw_client, user, value) -> str:
    """UserDataStored by another program, in a stream of its own choosing (not the
    address's): the id of the entry it makes."""
    entry_id = str(uuid.uuid4())
    data = {
        "entry_id": entry_id,
        "owner_id": user.pk,
        "owner": user.username,
        "entry_type": "profile",
        "category": "about",
        "value": value,
        "tags": [],
        "is_public": False,
    }
    raw_client.append_to_stream(
        userdata_stream(user.pk, entry_id),
        events=NewEvent(type="UserDataStored", data=json.dumps(data).encode()),
        current_version=StreamState.NO_STREAM,
    )
    projector.catch_up("dev")
    return entry_id


class TestRestoreAtAnAddress:
    def test_an_older_entry_is_not_restored_over_the_one_at_its_address(
        self, kdb, alice, raw_client, our_events
    ):
        # Another program stored an entry, it was deleted, and that program stored a
        # second one at the same address: bringing the first back would make two, so
        # it is refused, naming the category, and nothing is appended.
        old = _store_elsewhere(raw_client, alice, {"bio": "old"})
        userdata.delete_entry(alice, old)
        new = _store_elsewhere(raw_client, alice, {"bio": "new"})
        count = len(our_events())

        with pytest.raises(ValidationError) as info:
            userdata.restore_entry(alice, old)

        assert info.value.field == "category"
        assert len(our_events()) == count
        assert userdata.get_user_data(alice, alice, "profile")["about"].id == new


class TestReadModelUniqueness:
    def test_a_second_entry_at_an_address_from_another_program_is_skipped(
        self, kdb, alice, raw_client
    ):
        first = userdata.store_user_data(alice, "profile", "about", {"bio": "ours"})
        other_id = str(uuid.uuid4())  # not the address's stream: another writer's choice
        data = {
            "entry_id": other_id,
            "owner_id": alice.pk,
            "owner": "alice",
            "entry_type": "profile",
            "category": "about",
            "value": {"bio": "theirs"},
            "tags": [],
            "is_public": False,
        }
        raw_client.append_to_stream(
            userdata_stream(alice.pk, other_id),
            events=NewEvent(type="UserDataStored", data=json.dumps(data).encode()),
            current_version=StreamState.NO_STREAM,
        )

        projector.catch_up("dev")

        rows = UserDataEntry.objects.filter(owner_id=alice.pk, category="about")
        assert [str(r.entry_id) for r in rows] == [first.id]
        skipped = SkippedEvent.objects.get()
        assert skipped.stream_name == userdata_stream(alice.pk, other_id)
        assert skipped.reason == "database_rejected"
        # A rebuild comes to the same: the first stored keeps the address.
        projector.rebuild()
        rows = UserDataEntry.objects.filter(owner_id=alice.pk, category="about")
        assert [str(r.entry_id) for r in rows] == [first.id]


@pytest.mark.django_db(transaction=True)
class TestMigrationOfDuplicates:
    """Migration 0012 meets read models that hold two live entries at one address."""

    def test_the_first_stored_keeps_the_address_and_the_others_are_recorded(self):
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        before, after = (
            [("kurrent", "0011_skipped_events")],
            [("kurrent", "0012_entry_address_unique")],
        )
        executor = MigrationExecutor(connection)
        latest = executor.loader.graph.leaf_nodes()
        executor.migrate(before)
        try:
            self._check(executor, before, after)
        finally:  # the later tests need every migration
            MigrationExecutor(connection).migrate(latest)

    def _check(self, executor, before, after):
        from datetime import UTC, datetime, timedelta

        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        old = executor.loader.project_state(before).apps
        entry = old.get_model("kurrent", "UserDataEntry")
        start = datetime(2026, 1, 1, tzinfo=UTC)

        def row(n: int, category: str, **extra):
            values = {
                "env": "dev",
                "entry_id": uuid.uuid4(),
                "owner_id": 7,
                "owner_name": "alice",
                "entry_type": "profile",
                "category": category,
                "value": {"n": n},
                "version": 0,
                "created_at": start + timedelta(minutes=n),
                "updated_at": start + timedelta(minutes=n),
                "position": 1000 + n,
                "last_event_id": str(uuid.uuid4()),
            }
            values.update(extra)
            return entry.objects.create(**values)

        first = row(1, "about")
        second = row(2, "about")
        row(3, "about", deleted=True)  # deleted rows hold no address
        other = row(4, "contact")

        executor = MigrationExecutor(connection)
        executor.migrate(after)

        kept = UserDataEntry.objects.filter(category="about", deleted=False)
        assert [r.entry_id for r in kept] == [first.entry_id]
        assert UserDataEntry.objects.filter(category="about", deleted=True).count() == 1
        assert UserDataEntry.objects.filter(entry_id=other.entry_id).exists()
        skipped = SkippedEvent.objects.get()
        assert skipped.stream_name == f"userdata-7-{second.entry_id}"
        assert (skipped.position, skipped.reason) == (1002, "database_rejected")
        UserDataEntry.objects.all().delete()
        SkippedEvent.objects.all().delete()
