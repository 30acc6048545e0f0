"""Contract of /api/v1/records for every role: owner (alice), another editor (bob), a
viewer (carol), an admin, and no one. Each write is checked against KurrentDB itself."""

from __future__ import annotations

import uuid

import pytest

from kurrent.core.events import record_stream
from kurrent.services import records
from tests.kurrent.viewtools import record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]

BASE = "/api/v1/records"


def stream_types(raw_client, record_id):
    return [e.type for e in raw_client.get_stream(record_stream(record_id))]


class TestCreate:
    def test_an_editor_creates_a_record(self, alice, api_as, raw_client):
        r = api_as(alice).post(
            BASE, {"name": "Census", "data": {"count": 3}, "tags": ["Birds"], "is_public": True}
        )
        assert r.status_code == 201
        body = r.json()
        assert body["name"] == "Census" and body["tags"] == ["birds"] and body["version"] == 0
        assert body["owner"] == "alice" and body["is_public"] is True
        assert r["ETag"] == '"0"'
        assert r["Location"] == f"{BASE}/{body['id']}"
        assert stream_types(raw_client, body["id"]) == ["StreamCreated"]
        assert records.get_record(alice, body["id"]).data == {"count": 3}

    @pytest.mark.parametrize("who", ["carol"])
    def test_a_viewer_may_not_create(self, who, request, api_as, our_events):
        r = api_as(request.getfixturevalue(who)).post(BASE, {"name": "No", "data": {}})
        assert r.status_code == 403
        assert r["Content-Type"] == "application/problem+json"
        assert our_events() == []

    def test_no_one_may_create(self, anonymous, our_events):
        r = anonymous.post(BASE, {"name": "No", "data": {}})
        assert r.status_code == 401
        assert r["WWW-Authenticate"].startswith("Bearer")
        assert our_events() == []

    def test_a_bad_field_is_named_and_nothing_is_appended(self, alice, api_as, our_events):
        api = api_as(alice)
        bad = [
            ({"name": "", "data": {}}, "name"),
            ({"name": "x", "data": []}, "data"),
            ({"name": "x", "tags": ["no spaces"]}, "tags"),
            ({"name": "x", "is_public": "perhaps"}, "is_public"),
            ({"name": "x", "colour": "red"}, "colour"),
            ({"name": "x", "data": {"big": "y" * 300_000}}, "data"),
            ({"name": "tab\tname"}, "name"),
        ]
        for body, field in bad:
            r = api.post(BASE, body)
            assert r.status_code == 422, (body, r.content)
            problem = r.json()
            assert r["Content-Type"] == "application/problem+json"
            assert problem["field"] == field, problem
            assert problem["status"] == 422 and problem["instance"] == BASE
            assert field in problem["detail"]
        assert our_events() == []

    def test_a_body_that_is_not_json_is_a_400(self, alice, api_as, our_events):
        r = api_as(alice).post(BASE, "{not json")
        assert r.status_code == 400
        assert r.json()["field"] == "body"
        assert our_events() == []


class TestRead:
    def test_get_has_the_version_as_etag(self, alice, api_as):
        r = record(alice)
        records.update_record(alice, r.id, expected_version=0, name="Two")
        got = api_as(alice).get(f"{BASE}/{r.id}")
        assert got.status_code == 200
        assert got.json()["version"] == 1 and got["ETag"] == '"1"'

    @pytest.mark.parametrize("who", ["bob", "carol"])
    def test_anothers_private_record_is_a_404_like_a_missing_one(self, alice, who, request, api_as):
        r = record(alice, is_public=False)
        api = api_as(request.getfixturevalue(who))
        private = api.get(f"{BASE}/{r.id}")
        missing = api.get(f"{BASE}/{uuid.uuid4()}")
        assert private.status_code == missing.status_code == 404
        assert private.json()["detail"] == missing.json()["detail"]
        for path in ("history", "versions/0", "diff?from_version=0&to_version=0"):
            assert api.get(f"{BASE}/{r.id}/{path}").status_code == 404, path

    @pytest.mark.parametrize("who", ["bob", "carol", "admin_user"])
    def test_public_records_are_readable_by_everyone_signed_in(self, alice, who, request, api_as):
        r = record(alice, is_public=True)
        assert api_as(request.getfixturevalue(who)).get(f"{BASE}/{r.id}").status_code == 200

    def test_an_admin_reads_private_records(self, alice, admin_user, api_as):
        r = record(alice, is_public=False)
        assert api_as(admin_user).get(f"{BASE}/{r.id}").status_code == 200

    def test_a_garbage_id_is_a_404(self, alice, api_as):
        for rid in ("nope", "%00", "1" * 300):
            assert api_as(alice).get(f"{BASE}/{rid}").status_code == 404

    def test_list_filters_by_owner_and_tags(self, alice, bob, api_as):
        record(alice, name="A1", tags=["x", "y"], is_public=True)
        record(alice, name="A2", tags=["x"], is_public=True)
        record(bob, name="B1", tags=["x", "y"], is_public=True)
        record(bob, name="B-private", tags=["x", "y"], is_public=False)
        api = api_as(alice)
        names = lambda r: sorted(i["name"] for i in r.json()["items"])  # noqa: E731
        assert names(api.get(BASE)) == ["A1", "A2", "B1"]
        assert names(api.get(BASE, {"owner": "alice"})) == ["A1", "A2"]
        assert names(api.get(BASE, {"tag": ["x", "y"]})) == ["A1", "B1"]
        assert names(api.get(BASE, {"owner": "bob", "tag": "y"})) == ["B1"]
        assert api.get(BASE, {"owner": "nobody"}).json()["total"] == 0

    def test_search_finds_words_in_data(self, alice, api_as):
        record(alice, name="Emperor census", data={"note": "rockhopper colony"}, is_public=True)
        record(alice, name="Other", data={"note": "gentoo"}, is_public=True)
        r = api_as(alice).get(f"{BASE}/search", {"q": "rockhop"})
        assert r.status_code == 200
        assert [i["name"] for i in r.json()["items"]] == ["Emperor census"]

    def test_history_version_and_diff(self, alice, api_as):
        r = record(alice, name="One", data={"n": 1})
        records.update_record(alice, r.id, expected_version=0, name="Two", data={"n": 2})
        records.delete_record(alice, r.id, expected_version=1)
        api = api_as(alice)
        history = api.get(f"{BASE}/{r.id}/history").json()
        assert [h["event_type"] for h in history] == [
            "StreamCreated",
            "StreamUpdated",
            "StreamDeleted",
        ]
        assert history[1]["changes"]["name"] == {"old": "One", "new": "Two"}
        assert history[1]["actor"] == "alice"
        old = api.get(f"{BASE}/{r.id}/versions/0").json()
        assert old["name"] == "One" and old["version"] == 0
        diff = api.get(f"{BASE}/{r.id}/diff", {"from_version": 0, "to_version": 1}).json()
        assert diff["changes"]["data"] == {"old": {"n": 1}, "new": {"n": 2}}
        past_end = api.get(f"{BASE}/{r.id}/versions/9")
        assert past_end.status_code == 422 and past_end.json()["field"] == "version"
        bad = api.get(f"{BASE}/{r.id}/diff", {"from_version": 0, "to_version": 7})
        assert bad.status_code == 422 and bad.json()["field"] == "to_version"
        # Deleted: gone from reads and lists, its history kept.
        assert api.get(f"{BASE}/{r.id}").status_code == 404
        assert api.get(BASE).json()["total"] == 0


class TestUpdate:
    def test_the_owner_updates_with_if_match(self, alice, api_as, raw_client):
        r = record(alice, name="One", tags=["a"])
        got = api_as(alice).patch(f"{BASE}/{r.id}", {"name": "Two"}, **{"If-Match": '"0"'})
        assert got.status_code == 200, got.content
        assert got.json()["name"] == "Two" and got.json()["tags"] == ["a"]
        assert got["ETag"] == '"1"'
        assert stream_types(raw_client, r.id) == ["StreamCreated", "StreamUpdated"]

    def test_an_admin_updates_anyones(self, alice, admin_user, api_as):
        r = record(alice)
        got = api_as(admin_user).patch(f"{BASE}/{r.id}", {"is_public": True}, **{"If-Match": "0"})
        assert got.status_code == 200 and got.json()["is_public"] is True

    @pytest.mark.parametrize("who", ["bob", "carol"])
    def test_others_may_not_update_a_public_record(self, alice, who, request, api_as, raw_client):
        r = record(alice, is_public=True)
        got = api_as(request.getfixturevalue(who)).patch(
            f"{BASE}/{r.id}", {"name": "Mine now"}, **{"If-Match": '"0"'}
        )
        assert got.status_code == 403
        assert stream_types(raw_client, r.id) == ["StreamCreated"]

    def test_without_if_match_it_is_a_428(self, alice, api_as, raw_client):
        r = record(alice)
        got = api_as(alice).patch(f"{BASE}/{r.id}", {"name": "Two"})
        assert got.status_code == 428 and got.json()["field"] == "If-Match"
        assert stream_types(raw_client, r.id) == ["StreamCreated"]

    def test_a_stale_if_match_is_a_412_with_the_current_values(self, alice, api_as, raw_client):
        r = record(alice, name="One")
        records.update_record(alice, r.id, expected_version=0, name="Someone else's")
        got = api_as(alice).patch(f"{BASE}/{r.id}", {"name": "Mine"}, **{"If-Match": '"0"'})
        assert got.status_code == 412
        problem = got.json()
        assert problem["current_version"] == 1 and got["ETag"] == '"1"'
        assert problem["current"]["name"] == "Someone else's"
        assert stream_types(raw_client, r.id) == ["StreamCreated", "StreamUpdated"]

    def test_a_malformed_if_match_is_a_400(self, alice, api_as):
        r = record(alice)
        for value in ("*", 'W/"0"', '"0", "1"', "abc"):
            got = api_as(alice).patch(f"{BASE}/{r.id}", {"name": "x"}, **{"If-Match": value})
            assert got.status_code == 400 and got.json()["field"] == "If-Match", value

    def test_a_bad_value_names_the_field(self, alice, api_as, raw_client):
        r = record(alice)
        got = api_as(alice).patch(f"{BASE}/{r.id}", {"tags": ["UPPER ok", 3]}, **{"If-Match": "0"})
        assert got.status_code == 422 and got.json()["field"].startswith("tags")
        assert stream_types(raw_client, r.id) == ["StreamCreated"]


class TestDelete:
    def test_the_owner_deletes_with_if_match(self, alice, api_as, raw_client):
        r = record(alice)
        got = api_as(alice).delete(f"{BASE}/{r.id}", **{"If-Match": '"0"'})
        assert got.status_code == 204 and got.content == b""
        assert stream_types(raw_client, r.id) == ["StreamCreated", "StreamDeleted"]
        assert api_as(alice).get(f"{BASE}/{r.id}").status_code == 404

    def test_delete_needs_if_match_and_the_current_version(self, alice, api_as, raw_client):
        r = record(alice)
        records.update_record(alice, r.id, expected_version=0, name="Two")
        api = api_as(alice)
        assert api.delete(f"{BASE}/{r.id}").status_code == 428
        stale = api.delete(f"{BASE}/{r.id}", **{"If-Match": '"0"'})
        assert stale.status_code == 412 and stale.json()["current_version"] == 1
        assert stream_types(raw_client, r.id) == ["StreamCreated", "StreamUpdated"]

    @pytest.mark.parametrize("who", ["bob", "carol"])
    def test_others_may_not_delete(self, alice, who, request, api_as, raw_client):
        r = record(alice, is_public=True)
        got = api_as(request.getfixturevalue(who)).delete(f"{BASE}/{r.id}", **{"If-Match": "0"})
        assert got.status_code == 403
        assert stream_types(raw_client, r.id) == ["StreamCreated"]

    def test_anothers_private_record_is_a_404_to_delete(self, alice, bob, api_as):
        r = record(alice, is_public=False)
        assert api_as(bob).delete(f"{BASE}/{r.id}", **{"If-Match": "0"}).status_code == 404
