"""The dashboard's read-model fragments (record list, activity feed) are rendered once per
viewer, query and read-model generation, and reused: never stale after a write, never
another user's."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kurrent import events, formatting, projector, streams, web
from kurrent.connection import connections
from tests.kurrent.viewtools import HX, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/"
TIMES = re.compile(r"<time [^>]*>[^<]*</time>")


@pytest.fixture(autouse=True)
def _empty_cache():
    web.fragments.clear()
    yield
    web.fragments.clear()


def get(client, url=URL, **headers):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode(), len(queries)


def results_of(body: str) -> str:
    start = body.index('<div id="record-results"')
    return body[start : body.index("</section>", start)].strip()


class TestReuse:
    def test_a_second_render_reuses_both_fragments(self, client, alice):
        for n in range(3):
            record(alice, name=f"Colony {n}", is_public=True)
        client.force_login(alice)
        first, first_queries = get(client)
        second, second_queries = get(client)
        # The record query (count + rows) and the activity query are not run again.
        assert second_queries <= first_queries - 3
        for n in range(3):
            assert f"Colony {n}" in second
        assert TIMES.sub("", results_of(first)) == TIMES.sub("", results_of(second))

    def test_the_forms_are_new_each_time(self, client, alice):
        client.force_login(alice)
        first, _ = get(client)
        second, _ = get(client)
        key = re.compile(r'name="idempotency_key" value="([^"]+)"')
        assert key.search(first).group(1) != key.search(second).group(1)

    def test_the_htmx_results_are_the_fragment_of_the_page(self, client, alice):
        record(alice, name="Adelie nests", tags=["nest"], is_public=True)
        client.force_login(alice)
        page, _ = get(client, URL + "?tag=nest")
        fragment, queries = get(client, URL + "?tag=nest", **HX)
        assert TIMES.sub("", fragment.strip()) == TIMES.sub("", results_of(page))
        assert "Adelie nests" in fragment
        # The page's render left it cached: the fragment costs no record query.
        assert not any("kurrent_streamrecord" in q["sql"] for q in connection.queries[-queries:])

    def test_each_query_string_has_its_own_entry(self, client, alice):
        record(alice, name="Adelie nests", tags=["nest"], is_public=True)
        record(alice, name="Emperor huddle", tags=["huddle"], is_public=True)
        client.force_login(alice)
        nest, _ = get(client, URL + "?tag=nest", **HX)
        huddle, _ = get(client, URL + "?tag=huddle", **HX)
        assert "Adelie nests" in nest and "Emperor huddle" not in nest
        assert "Emperor huddle" in huddle and "Adelie nests" not in huddle


class TestFreshness:
    def test_a_write_shows_at_once(self, client, alice):
        client.force_login(alice)
        before, _ = get(client)
        assert "Rockhopper count" not in before
        position = projector.checkpoint_position("dev")
        created = record(alice, name="Rockhopper count")
        # The writer's shortcut applied it without moving the checkpoint: the newest
        # activity row is what tells the cache.
        assert projector.checkpoint_position("dev") == position
        after, _ = get(client)
        assert results_of(after).count("Rockhopper count") == 1
        feed = after[after.index('id="activity-feed"') :]
        assert "Rockhopper count" in feed

        streams.update_record(alice, created.id, expected_version=0, name="Rockhopper recount")
        again, _ = get(client, **HX)
        assert "Rockhopper recount" in again
        assert "Rockhopper count<" not in again

    def test_a_write_of_another_process_shows_once_projected(self, client, alice, raw_client):
        from kurrentdbclient import NewEvent, StreamState

        record(alice, name="Gentoo colony", is_public=True)
        client.force_login(alice)
        get(client)  # cached with the one record
        # Another process appends; only the projector applies it, moving the checkpoint.
        record_id = str(uuid.uuid4())
        body = {
            "record_id": record_id,
            "name": "Chinstrap outside",
            "data": {},
            "tags": [],
            "owner_id": alice.pk,
            "owner": alice.username,
            "is_public": True,
            "metadata": {},
        }
        raw_client.append_to_stream(
            events.record_stream(record_id),
            events=NewEvent(type="StreamCreated", data=json.dumps(body).encode()),
            current_version=StreamState.NO_STREAM,
        )
        assert "Chinstrap outside" not in get(client)[0]  # not in the read model yet
        projector.catch_up("dev")
        after, _ = get(client)
        assert "Chinstrap outside" in results_of(after)
        assert "Gentoo colony" in results_of(after)


class TestPrivacy:
    def test_a_private_record_never_reaches_another_user(self, client, alice, bob, carol):
        record(alice, name="Alice secret plan", is_public=False)
        record(alice, name="Alice public note", is_public=True)
        client.force_login(alice)
        mine, _ = get(client)
        assert "Alice secret plan" in mine
        mine_fragment, _ = get(client, **HX)
        assert "Alice secret plan" in mine_fragment
        for other in (bob, carol):
            client.force_login(other)
            for headers in ({}, HX):
                body, _ = get(client, **headers)
                assert "Alice public note" in body
                assert "Alice secret plan" not in body

    def test_an_admin_sees_it_and_alice_still_does(self, client, alice, admin_user):
        record(alice, name="Alice secret plan", is_public=False)
        client.force_login(admin_user)
        assert "Alice secret plan" in get(client)[0]
        client.force_login(alice)
        assert "Alice secret plan" in get(client)[0]


class TestRelativeTimes:
    def test_slots_are_filled_as_of_the_request(self):
        moment = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
        html = f"<time><!--ago:{int(moment.timestamp())}.{moment.microsecond:06d}--></time>"
        for later in (timedelta(seconds=1), timedelta(seconds=42), timedelta(hours=5)):
            now = moment + later
            assert web.fill_ago(html, now) == f"<time>{formatting.ago(moment, now)}</time>"
        assert web.fill_ago("<!--ago:.-->") == formatting.ago(None)

    def test_every_slot_is_filled_and_anything_else_is_left_alone(self):
        now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        minute, hour = (
            int((now - timedelta(**d)).timestamp()) for d in ({"minutes": 1}, {"hours": 1})
        )
        html = (
            f"a<!--ago:{minute}.000000-->b<!--ago:{hour}.5-->c<!--ago:{minute}.000000-->"
            "<!--ago:not-a-time--><!--ago:-.5--><!--ago:12"
        )
        expected = (
            f"a{formatting.ago(now - timedelta(minutes=1), now)}b"
            f"{formatting.ago(now - timedelta(hours=1) + timedelta(microseconds=5), now)}"
            f"c{formatting.ago(now - timedelta(minutes=1), now)}<!--ago:not-a-time-->"
            "<!--ago:-.5--><!--ago:12"
        )
        assert web.fill_ago(html, now) == expected

    def test_the_page_has_no_slots_left(self, client, alice):
        record(alice, name="Macaroni colony", is_public=True)
        client.force_login(alice)
        body, _ = get(client)
        assert "<!--ago:" not in body
        assert "just now" in body or " s ago" in body

    def test_a_name_cannot_forge_a_slot(self, client, alice):
        record(alice, name="<!--ago:0.0-->", is_public=True)
        client.force_login(alice)
        body, _ = get(client)
        assert "&lt;!--ago:0.0--&gt;" in body
        assert "<!--ago:" not in body


class TestWholePage:
    """The page around the fragments is reused too (web.pages), with holes for the CSRF
    token and the form's key; it must never carry another user's name, a consumed
    message or a stale "unreachable" banner."""

    def test_a_second_load_reuses_the_page_with_its_own_token_and_key(self, client, alice):
        client.force_login(alice)
        first, _ = get(client)
        assert len(web.pages._entries) == 1
        second, _ = get(client)
        key = re.compile(r'name="idempotency_key" value="([^"]+)"')
        token = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
        assert key.findall(first) != key.findall(second)
        assert token.findall(first) != token.findall(second)
        assert len(set(token.findall(second))) == 1  # one masking per request, every form

        def without_holes(body: str) -> str:
            for value in {*key.findall(body), *token.findall(body)}:
                body = body.replace(value, "")
            return TIMES.sub("", body)

        assert without_holes(first) == without_holes(second)

    def test_each_user_gets_their_own_page(self, client, alice, bob, carol):
        for user in (alice, bob, carol, alice):
            client.force_login(user)
            body, _ = get(client)
            assert f"{user.username} · " in body
            others = {"alice", "bob", "carol"} - {user.username}
            assert not any(f"{name} · " in body for name in others)
        client.force_login(carol)  # a viewer: no New record form at all
        assert 'id="create-form"' not in get(client)[0]

    def test_a_message_is_shown_once_and_not_kept(self, client, alice):
        client.force_login(alice)
        get(client)  # a reusable page exists now
        response = client.post(
            "/kurrent-db-demo/records/new/",
            {"name": "Flash note", "data": "{}", "tags": "", "idempotency_key": str(uuid.uuid4())},
        )
        assert response.status_code == 302
        with_message, _ = get(client)
        assert "Created “Flash note”" in with_message
        after, _ = get(client)
        assert "Created “Flash note”" not in after
        assert "Flash note" in results_of(after)

    def test_an_unreachable_node_is_never_served_from_the_cache(self, client, alice, kdb):
        client.force_login(alice)
        assert "is unreachable" not in get(client)[0]
        kdb.stop()
        connections.reset()
        deadline = time.monotonic() + 15
        body = ""
        while "is unreachable" not in body and time.monotonic() < deadline:
            body = get(client)[0]
            time.sleep(0.1)
        assert "is unreachable" in body
        cached = [html for _, _, html in web.pages._entries.values()]
        assert not any("is unreachable" in html for html in cached)
