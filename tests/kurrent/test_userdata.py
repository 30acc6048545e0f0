"""User data through kurrent.services.userdata, against a real embedded node."""

from __future__ import annotations

import json
import uuid

import pytest
from kurrentdbclient.exceptions import NotFoundError, StreamIsDeletedError

from kurrent.core.errors import Conflict, Forbidden, NotFound, ValidationError
from kurrent.core.events import userdata_stream
from kurrent.models import Activity, StreamRecord, UserDataEntry
from kurrent.readmodel import projector
from kurrent.services import records, userdata

pytestmark = [pytest.mark.django_db, pytest.mark.readmodel]


def _store(user, **extra):
    values = {
        "entry_type": "preferences",
        "category": "display",
        "value": {"theme": "dark", "density": "compact"},
        "tags": ["ui"],
    }
    values.update(extra)
    return userdata.store_entry(user, **values)


class TestEntries:
    def test_store_appends_to_the_users_stream(self, kdb, alice, raw_client):
        entry = _store(alice, is_public=True, key="main")

        assert (entry.version, entry.owner, entry.entry_type) == (0, "alice", "preferences")
        assert entry.value == {"theme": "dark", "density": "compact"}
        assert entry.key == "main" and entry.is_public
        events = raw_client.get_stream(userdata_stream(alice.pk, entry.id))
        assert [e.type for e in events] == ["UserDataStored"]
        assert json.loads(events[0].data)["category"] == "display"

    def test_get_update_and_delete(self, kdb, alice, raw_client):
        entry = _store(alice)

        changed = userdata.update_entry(
            alice, entry.id, expected_version=0, value='{"theme": "light"}', tags="ui, colour"
        )
        assert changed.version == 1 and changed.value == {"theme": "light"}
        assert changed.tags == ("ui", "colour")
        assert userdata.get_entry(alice, entry.id) == changed
        with pytest.raises(Conflict) as info:
            userdata.update_entry(alice, entry.id, expected_version=0, value={"theme": "system"})
        assert info.value.current_version == 1

        userdata.delete_entry(alice, entry.id, expected_version=1)

        with pytest.raises(NotFound):
            userdata.get_entry(alice, entry.id)
        assert userdata.list_entries(alice)["preferences"] == []
        types = [e.type for e in raw_client.get_stream(userdata_stream(alice.pk, entry.id))]
        assert types == ["UserDataStored", "UserDataUpdated", "UserDataDeleted"]

    def test_a_resubmitted_store_appends_once(self, kdb, alice, our_events):
        first = _store(alice, idempotency_key="pref-form")
        again = _store(alice, idempotency_key="pref-form")

        assert first.id == again.id
        assert len(our_events()) == 1

    @pytest.mark.parametrize(
        ("values", "field"),
        [
            ({"entry_type": "secrets"}, "entry_type"),
            ({"entry_type": ""}, "entry_type"),
            ({"category": ""}, "category"),
            ({"category": "c" * 101}, "category"),
            ({"value": "not json"}, "value"),
            ({"value": "[1]"}, "value"),
            ({"tags": ["Not A Tag!"]}, "tags"),
            ({"key": "k" * 201}, "key"),
        ],
    )
    def test_bad_input_names_the_field_and_appends_nothing(
        self, kdb, alice, our_events, values, field
    ):
        with pytest.raises(ValidationError) as info:
            _store(alice, **values)

        assert info.value.field == field
        assert our_events() == []

    def test_viewers_cannot_store(self, kdb, carol, our_events):
        with pytest.raises(Forbidden):
            _store(carol)
        assert our_events() == []

    def test_listing_by_type(self, kdb, alice):
        profile = _store(alice, entry_type="profile", category="about", value={"bio": "hi"})
        first = _store(alice, entry_type="settings", category="mail")
        second = _store(alice, entry_type="settings", category="alerts")

        listing = userdata.list_entries(alice)

        assert set(listing) == set(userdata.ENTRY_TYPES)
        assert [e.id for e in listing["settings"]] == [second.id, first.id]
        assert [e.id for e in listing["profile"]] == [profile.id]
        assert listing["custom"] == []
        only = userdata.list_entries(alice, entry_type="profile")
        assert list(only) == ["profile"]
        with pytest.raises(ValidationError):
            userdata.list_entries(alice, entry_type="nope")


class TestPrivacy:
    def test_private_entries_reach_only_their_owner_and_admins(
        self, kdb, alice, bob, carol, admin_user
    ):
        private = _store(alice, category="diary", value={"text": "secret plans"})
        public = _store(alice, category="hobbies", value={"text": "birdwatching"}, is_public=True)

        for outsider in (bob, carol):
            with pytest.raises(Forbidden):
                userdata.get_entry(outsider, private.id)
            assert userdata.get_entry(outsider, public.id).id == public.id
            seen = userdata.list_entries(outsider, user=alice)
            assert [e.id for e in seen["preferences"]] == [public.id]
            directory = userdata.public_directory(outsider)
            assert [e.id for e in directory.items] == [public.id]
            assert userdata.public_directory(outsider, query="secret").total == 0
            with pytest.raises(Forbidden):
                userdata.update_entry(outsider, public.id, expected_version=0, value={})
            with pytest.raises(Forbidden):
                userdata.delete_entry(outsider, public.id)
        assert userdata.get_entry(admin_user, private.id).value == {"text": "secret plans"}
        mine = userdata.list_entries(alice)["preferences"]
        assert {e.id for e in mine} == {private.id, public.id}
        everything = userdata.list_entries(admin_user, user=alice)["preferences"]
        assert {e.id for e in everything} == {private.id, public.id}

    def test_the_directory_filters_and_pages(self, kdb, alice, bob):
        for n in range(5):
            _store(alice, category=f"birds {n}", value={"species": "gentoo"}, is_public=True)
        _store(bob, entry_type="profile", category="about", value={"bio": "skua"}, is_public=True)

        page = userdata.public_directory(bob, page_size=2)
        assert (page.total, page.num_pages, len(page.items), page.has_next) == (6, 3, 2, True)
        assert userdata.public_directory(bob, query="gentoo").total == 5
        assert userdata.public_directory(bob, query="GENTOO birds 3").total == 1
        assert userdata.public_directory(bob, entry_type="profile").total == 1
        last = userdata.public_directory(bob, page=99, page_size=2)
        assert last.page == 3 and len(last.items) == 2


class TestErase:
    def test_only_admins_erase(self, kdb, alice, bob):
        _store(alice)
        with pytest.raises(Forbidden):
            userdata.erase_user(bob, alice)
        with pytest.raises(Forbidden):
            userdata.erase_user(alice, alice)

    def test_erase_leaves_nothing_of_the_user_readable(
        self, kdb, alice, bob, admin_user, raw_client
    ):
        entries = [_store(alice, category=f"c{n}", is_public=n == 0) for n in range(3)]
        userdata.delete_entry(alice, entries[2].id)
        record = records.create_record(alice, name="Alice's census", data={}, is_public=True)
        kept = _store(bob, category="bob's")
        bobs_record = records.create_record(bob, name="Bob's census", data={}, is_public=True)

        erased = userdata.erase_user(admin_user, alice)

        assert erased == 4  # three entry streams and one record stream
        names = [userdata_stream(alice.pk, e.id) for e in entries] + [f"pool-{record.id}"]
        for name in names:
            with pytest.raises((StreamIsDeletedError, NotFoundError)):
                raw_client.get_stream(name)
            with pytest.raises((StreamIsDeletedError, NotFoundError)):
                raw_client.get_stream_metadata(name)
        assert not UserDataEntry.objects.filter(owner_id=alice.pk).exists()
        assert not StreamRecord.objects.filter(owner_id=alice.pk).exists()
        assert not Activity.objects.filter(owner_id=alice.pk).exists()
        for reader in (admin_user, bob):
            with pytest.raises(NotFound):
                userdata.get_entry(reader, entries[0].id)
            with pytest.raises(NotFound):
                records.get_record(reader, record.id)
            with pytest.raises(NotFound):
                records.record_history(reader, record.id)
        assert userdata.public_directory(bob).total == 0
        assert [r.id for r in records.list_records(admin_user).items] == [bobs_record.id]
        assert userdata.get_entry(bob, kept.id).category == "bob's"
        # A replay meets the erasure after the user's events: they stay gone.
        projector.rebuild()
        assert not UserDataEntry.objects.filter(owner_id=alice.pk).exists()
        assert not StreamRecord.objects.filter(owner_id=alice.pk).exists()
        assert UserDataEntry.objects.filter(owner_id=bob.pk).count() == 1

    def test_a_user_may_start_afresh_after_erasure(self, kdb, alice, admin_user):
        _store(alice)
        userdata.erase_user(admin_user, alice)

        fresh = _store(alice, category="new start")

        assert [e.id for e in userdata.list_entries(alice)["preferences"]] == [fresh.id]
        projector.rebuild()
        assert [e.id for e in userdata.list_entries(alice)["preferences"]] == [fresh.id]

    def test_unknown_entry_ids(self, kdb, alice):
        for bad in (str(uuid.uuid4()), "nope"):
            with pytest.raises(NotFound):
                userdata.get_entry(alice, bad)
            with pytest.raises(NotFound):
                userdata.update_entry(alice, bad, expected_version=0, value={})
