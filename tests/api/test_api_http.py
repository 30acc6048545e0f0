"""HTTP done properly: Idempotency-Key replays and refusals, cursor pages with Link
headers, 503 with Retry-After when KurrentDB is unreachable, problem+json everywhere."""

from __future__ import annotations

import json
import re

import pytest

from kurrent.api.conditions import encode_cursor
from kurrent.api.models import IdempotencyKey
from kurrent.services import records
from tests.conftest import point_env_at
from tests.kurrent.viewtools import closed_port_url, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]

BASE = "/api/v1/records"
KEY = "Idempotency-Key"


class TestIdempotencyKey:
    def test_the_same_key_and_body_replays_and_appends_once(self, alice, api_as, our_events):
        api = api_as(alice)
        body = {"name": "Once", "data": {"a": 1, "b": 2}}
        first = api.post(BASE, body, **{KEY: "create-1"})
        # The same JSON, other spacing and key order: the same request.
        again = api.post(BASE, '{"data": {"b": 2, "a": 1},   "name": "Once"}', **{KEY: "create-1"})
        assert first.status_code == again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
        assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
        assert [e.type for e in our_events()] == ["StreamCreated"]

    def test_the_same_key_with_another_body_is_a_409_and_appends_nothing(
        self, alice, api_as, our_events
    ):
        api = api_as(alice)
        assert api.post(BASE, {"name": "First"}, **{KEY: "k"}).status_code == 201
        other = api.post(BASE, {"name": "Second"}, **{KEY: "k"})
        assert other.status_code == 409
        assert other.json()["field"] == KEY
        assert other["Content-Type"] == "application/problem+json"
        assert len(our_events()) == 1
        assert records.list_records(alice).total == 1

    def test_keys_are_per_user(self, alice, bob, api_as, our_events):
        assert api_as(alice).post(BASE, {"name": "A"}, **{KEY: "same"}).status_code == 201
        assert api_as(bob).post(BASE, {"name": "B"}, **{KEY: "same"}).status_code == 201
        assert len(our_events()) == 2

    def test_a_refused_write_frees_its_key(self, alice, api_as, our_events):
        api = api_as(alice)
        assert api.post(BASE, {"name": ""}, **{KEY: "fix-me"}).status_code == 422
        assert not IdempotencyKey.objects.filter(key="fix-me").exists()
        assert api.post(BASE, {"name": "Fixed"}, **{KEY: "fix-me"}).status_code == 201
        assert len(our_events()) == 1

    def test_a_bad_key_is_named(self, alice, api_as, our_events):
        for key in ("x" * 201, "with space", "é"):
            r = api_as(alice).post(BASE, {"name": "A"}, **{KEY: key})
            assert r.status_code == 422 and r.json()["field"] == KEY, key
        assert our_events() == []

    def test_an_update_replayed_with_its_key_appends_once(self, alice, api_as, raw_client):
        r = record(alice, name="One")
        api = api_as(alice)
        headers = {"If-Match": '"0"', KEY: "edit-1"}
        first = api.patch(f"{BASE}/{r.id}", {"name": "Two"}, **headers)
        again = api.patch(f"{BASE}/{r.id}", {"name": "Two"}, **headers)
        assert first.status_code == again.status_code == 200
        assert again.json()["version"] == 1 and again["Idempotent-Replayed"] == "true"
        assert len(raw_client.get_stream(f"pool-{r.id}")) == 2


class TestCursorPages:
    def test_pages_follow_the_link_header_to_the_end(self, alice, api_as):
        for n in range(5):
            record(alice, name=f"R{n}")
        api = api_as(alice)
        seen, url, pages = [], f"{BASE}?limit=2", 0
        while url:
            r = api.get(url)
            assert r.status_code == 200
            body = r.json()
            seen += [i["name"] for i in body["items"]]
            links = dict(
                (rel, target)
                for target, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', r.get("Link", ""))
            )
            assert "first" in links
            url = links.get("next", "").replace("http://testserver", "")
            assert bool(url) == (body["next"] is not None)
            pages += 1
        assert pages == 3
        assert sorted(seen) == [f"R{n}" for n in range(5)]

    def test_a_cursor_it_did_not_make_is_a_422(self, alice, api_as):
        for cursor in ("nonsense", "e30", encode_cursor(1)[:-2] + "!!"):
            r = api_as(alice).get(BASE, {"cursor": cursor})
            assert r.status_code == 422 and r.json()["field"] == "cursor", cursor

    def test_limit_is_bounded(self, alice, api_as):
        for limit in (0, 101, -1):
            r = api_as(alice).get(BASE, {"limit": limit})
            assert r.status_code == 422 and r.json()["field"] == "limit"


class TestUnavailable:
    def test_kurrentdb_down_is_a_503_with_retry_after_and_nothing_changes(
        self, alice, api_as, settings
    ):
        r = record(alice)
        api = api_as(alice)
        point_env_at(settings, "dev", closed_port_url())
        create = api.post(BASE, {"name": "Lost?"})
        assert create.status_code == 503, create.content
        assert int(create["Retry-After"]) >= 1
        assert create["Content-Type"] == "application/problem+json"
        history = api.get(f"{BASE}/{r.id}/history")
        assert history.status_code == 503 and history["Retry-After"]
        # Reads of the read model still answer.
        assert api.get(f"{BASE}/{r.id}").status_code == 200


class TestProblems:
    def test_every_error_is_problem_json(self, alice, api_as, anonymous):
        answers = [
            anonymous.get(BASE),
            api_as(alice).get(f"{BASE}/nothing-here"),
            api_as(alice).get(BASE, {"limit": "many"}),
            api_as(alice).get("/api/v1/no-such-endpoint"),
        ]
        for answer in answers:
            assert answer["Content-Type"] == "application/problem+json", answer.content
            problem = json.loads(answer.content)
            assert problem["status"] == answer.status_code
            assert {"type", "title", "detail", "instance"} <= problem.keys()
