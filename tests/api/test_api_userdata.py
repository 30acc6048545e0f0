"""Contract of /api/v1/userdata (by user, type and category) and /api/v1/directory for
every role, and of restoring a deleted record or entry."""

from __future__ import annotations

import pytest

from kurrent.core.events import record_stream
from kurrent.services import records, userdata
from tests.kurrent.viewtools import entry, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]

BASE = "/api/v1/userdata"


def store_body(**fields):
    return {"entry_type": "profile", "category": "contact", "value": {"email": "a@x"}, **fields}


class TestStore:
    def test_an_editor_stores_their_entry(self, alice, api_as, our_events):
        r = api_as(alice).post(BASE, store_body(tags=["Work"], is_public=True))
        assert r.status_code == 201, r.content
        body = r.json()
        assert (body["owner"], body["entry_type"], body["category"]) == (
            "alice",
            "profile",
            "contact",
        )
        assert body["tags"] == ["work"] and body["version"] == 0 and r["ETag"] == '"0"'
        assert r["Location"] == f"{BASE}/alice/profile/contact"
        assert [e.type for e in our_events()] == ["UserDataStored"]

    def test_a_second_store_at_the_address_is_a_409_carrying_the_entry(
        self, alice, api_as, our_events
    ):
        api = api_as(alice)
        api.post(BASE, store_body())
        again = api.post(BASE, store_body(value={"email": "b@x"}))
        assert again.status_code == 409
        assert again.json()["current"]["value"] == {"email": "a@x"}
        assert again.json()["current_version"] == 0 and again["ETag"] == '"0"'
        assert len(our_events()) == 1

    def test_bad_fields_are_named_and_nothing_is_appended(self, alice, api_as, our_events):
        api = api_as(alice)
        for fields, field in (
            ({"entry_type": "diary"}, "entry_type"),
            ({"category": "  "}, "category"),
            ({"value": "text"}, "value"),
            ({"tags": ["bad tag"]}, "tags"),
            ({"extra": 1}, "extra"),
        ):
            r = api.post(BASE, store_body(**fields))
            assert r.status_code == 422, (fields, r.content)
            assert r.json()["field"].startswith(field), r.json()
        assert our_events() == []

    def test_viewers_may_not_store_and_editors_not_for_others(self, carol, alice, bob, api_as):
        assert api_as(carol).post(BASE, store_body()).status_code == 403
        assert api_as(bob).post(BASE, store_body(user="alice")).status_code == 403
        assert userdata.list_entries(alice, user=alice)["profile"] == []

    def test_an_admin_stores_for_another_user(self, alice, admin_user, api_as):
        r = api_as(admin_user).post(BASE, store_body(user="alice"))
        assert r.status_code == 201 and r.json()["owner"] == "alice"

    def test_the_same_key_replays(self, alice, api_as, our_events):
        api = api_as(alice)
        first = api.post(BASE, store_body(), **{"Idempotency-Key": "store-1"})
        again = api.post(BASE, store_body(), **{"Idempotency-Key": "store-1"})
        assert first.status_code == again.status_code == 201
        assert again["Idempotent-Replayed"] == "true"
        other = api.post(BASE, store_body(category="other"), **{"Idempotency-Key": "store-1"})
        assert other.status_code == 409
        assert len(our_events()) == 1


class TestRead:
    def test_by_user_by_type_and_by_address(self, alice, bob, api_as):
        entry(alice, category="contact", is_public=True)
        entry(alice, category="secret", value={"pin": 1}, is_public=False)
        entry(alice, entry_type="settings", category="theme", value={"dark": True})
        mine, theirs = api_as(alice), api_as(bob)
        assert sorted(mine.get(f"{BASE}/alice/profile").json()) == ["contact", "secret"]
        assert sorted(theirs.get(f"{BASE}/alice/profile").json()) == ["contact"]
        grouped = mine.get(f"{BASE}/alice").json()
        assert [e["category"] for e in grouped["settings"]] == ["theme"]
        assert [e["category"] for e in theirs.get(f"{BASE}/alice").json()["profile"]] == ["contact"]
        one = mine.get(f"{BASE}/alice/profile/contact")
        assert one.status_code == 200 and one["ETag"] == '"0"'

    def test_anothers_private_entry_is_a_404_like_a_missing_one(self, alice, bob, api_as):
        entry(alice, category="secret", is_public=False)
        api = api_as(bob)
        private = api.get(f"{BASE}/alice/profile/secret")
        missing = api.get(f"{BASE}/alice/profile/nothing")
        assert private.status_code == missing.status_code == 404
        assert api.get(f"{BASE}/nobody/profile").status_code == 404
        assert api.get(f"{BASE}/alice/diary").status_code == 422

    def test_an_admin_sees_private_entries(self, alice, admin_user, api_as):
        entry(alice, category="secret", is_public=False)
        assert api_as(admin_user).get(f"{BASE}/alice/profile/secret").status_code == 200

    def test_the_directory_lists_public_entries_in_pages(self, alice, bob, carol, api_as):
        entry(alice, category="a", is_public=True, value={"note": "emperor"})
        entry(bob, category="b", is_public=True, value={"note": "gentoo"})
        entry(bob, category="c", is_public=False)
        api = api_as(carol)
        page = api.get("/api/v1/directory", {"limit": 1})
        assert page.status_code == 200
        assert page.json()["total"] == 2 and page.json()["next"] and 'rel="next"' in page["Link"]
        found = api.get("/api/v1/directory", {"q": "gentoo"}).json()
        assert [e["category"] for e in found["items"]] == ["b"]
        assert api.get("/api/v1/directory", {"type": "diary"}).status_code == 422


class TestChange:
    def test_the_owner_updates_with_if_match(self, alice, api_as, raw_client):
        made = entry(alice, category="contact")
        api = api_as(alice)
        url = f"{BASE}/alice/profile/contact"
        assert api.patch(url, {"value": {"email": "new@x"}}).status_code == 428
        r = api.patch(url, {"value": {"email": "new@x"}, "is_public": True}, **{"If-Match": "0"})
        assert r.status_code == 200 and r["ETag"] == '"1"'
        assert r.json()["value"] == {"email": "new@x"} and r.json()["is_public"] is True
        stale = api.patch(url, {"value": {"email": "late@x"}}, **{"If-Match": '"0"'})
        assert stale.status_code == 412
        assert stale.json()["current"]["value"] == {"email": "new@x"}
        stream = f"userdata-{alice.pk}-{made.id}"
        assert [e.type for e in raw_client.get_stream(stream)] == [
            "UserDataStored",
            "UserDataUpdated",
        ]

    @pytest.mark.parametrize("who", ["bob", "carol"])
    def test_others_may_not_change_a_public_entry(self, alice, who, request, api_as):
        entry(alice, category="contact", is_public=True)
        api = api_as(request.getfixturevalue(who))
        url = f"{BASE}/alice/profile/contact"
        assert api.patch(url, {"value": {}}, **{"If-Match": "0"}).status_code == 403
        assert api.delete(url, **{"If-Match": "0"}).status_code == 403
        assert userdata.get_user_entry(alice, alice, "profile", "contact").version == 0

    def test_delete_and_restore(self, alice, api_as):
        entry(alice, category="contact")
        api = api_as(alice)
        url = f"{BASE}/alice/profile/contact"
        assert api.delete(url).status_code == 428
        assert api.delete(url, **{"If-Match": '"0"'}).status_code == 204
        assert api.get(url).status_code == 404
        back = api.post(f"{url}/restore")
        assert back.status_code == 200, back.content
        assert back.json()["version"] == 2 and back.json()["deleted"] is False
        assert api.get(url).status_code == 200
        assert api.post(f"{url}/restore").status_code == 404  # no deleted entry there


class TestRecordRestore:
    def test_the_owner_restores_a_deleted_record(self, alice, api_as, raw_client):
        r = record(alice)
        records.delete_record(alice, r.id, expected_version=0)
        api = api_as(alice)
        back = api.post(f"/api/v1/records/{r.id}/restore", **{"If-Match": '"1"'})
        assert back.status_code == 200 and back.json()["deleted"] is False
        assert back["ETag"] == '"2"'
        assert [e.type for e in raw_client.get_stream(record_stream(r.id))] == [
            "StreamCreated",
            "StreamDeleted",
            "StreamRestored",
        ]

    def test_others_may_not_restore(self, alice, bob, api_as, raw_client):
        private = record(alice, name="private")
        public = record(alice, name="public", is_public=True)
        for r in (private, public):
            records.delete_record(alice, r.id, expected_version=0)
        api = api_as(bob)
        assert api.post(f"/api/v1/records/{private.id}/restore").status_code == 404
        assert api.post(f"/api/v1/records/{public.id}/restore").status_code == 403
        assert len(raw_client.get_stream(record_stream(public.id))) == 2

    def test_a_stale_if_match_is_a_412(self, alice, api_as):
        r = record(alice)
        records.delete_record(alice, r.id, expected_version=0)
        stale = api_as(alice).post(f"/api/v1/records/{r.id}/restore", **{"If-Match": '"0"'})
        assert stale.status_code == 412 and stale.json()["current_version"] == 1


class TestSchemas:
    def test_everyone_reads_the_schemas(self, carol, api_as):
        api = api_as(carol)
        every = api.get("/api/v1/schemas").json()
        assert [s["entry_type"] for s in every] == [
            "profile",
            "preferences",
            "settings",
            "data",
            "custom",
        ]
        one = api.get("/api/v1/schemas/preferences")
        assert one.status_code == 200 and one["ETag"] == '"0"' and one.json()["shipped"] is True
        assert api.get("/api/v1/schemas/diary").status_code == 422

    def test_admins_replace_a_schema_with_if_match(self, admin_user, alice, api_as):
        schema = {"type": "object", "required": ["email"]}
        url = "/api/v1/schemas/custom"
        assert api_as(alice).put(url, schema, **{"If-Match": '"0"'}).status_code == 403
        api = api_as(admin_user)
        assert api.put(url, schema).status_code == 428
        done = api.put(url, schema, **{"If-Match": '"0"'})
        assert done.status_code == 200 and done.json()["version"] == 1 and done["ETag"] == '"1"'
        assert api.put(url, schema, **{"If-Match": '"0"'}).status_code == 412
        bad = api.put(url, {"type": "no-such-type"}, **{"If-Match": '"1"'})
        assert bad.status_code == 422 and bad.json()["field"] == "schema"
        history = api.get(f"{url}/history").json()
        assert [h["version"] for h in history] == [0, 1]
        refused = api_as(alice).post(
            "/api/v1/userdata", {"entry_type": "custom", "category": "x", "value": {"n": 1}}
        )
        assert refused.status_code == 422 and refused.json()["field"] == "value"
