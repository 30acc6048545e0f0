"""What users rely on now that every dashboard is rendered for its request: a write
shows on the next load, each user sees their own page (a change to a user shows at
once), the forms carry a fresh CSRF token and idempotency key. The one HTML kept
between requests, the record list and the feed (kurrent.web.fragments), never goes
stale after a write and holds nothing of one request."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kurrent.connection.manager import connections
from kurrent.core import events
from kurrent.readmodel import projector
from kurrent.services import records, roles
from kurrent.web import formatting, fragments
from tests.kurrent.viewtools import HX, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/"
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def get(client, url=URL, **headers) -> str:
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode()


def results_of(body: str) -> str:
    start = body.index('<div id="record-results"')
    return body[start : body.index("</section>", start)].strip()


def feed_of(body: str) -> str:
    return body[body.index('id="activity-feed"') :]


class TestWritesShowAtOnce:
    def test_a_new_record_appears_on_the_next_load(self, client, alice):
        client.force_login(alice)
        assert "Rockhopper count" not in get(client)
        record(alice, name="Rockhopper count")
        after = get(client)
        assert results_of(after).count("Rockhopper count") == 1
        assert "Rockhopper count" in feed_of(after)

    def test_an_update_shows_in_the_next_search(self, client, alice):
        created = record(alice, name="Rockhopper count")
        client.force_login(alice)
        assert "Rockhopper count" in get(client, **HX)
        records.update_record(alice, created.id, expected_version=0, name="Rockhopper recount")
        again = get(client, **HX)
        assert "Rockhopper recount" in again
        assert "Rockhopper count<" not in again

    def test_a_write_of_another_process_shows_once_projected(self, client, alice, raw_client):
        from kurrentdbclient import NewEvent, StreamState

        record(alice, name="Gentoo colony", is_public=True)
        client.force_login(alice)
        get(client)
        # Another process appends; only the projector applies it.
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
        projector.catch_up("dev")
        after = get(client)
        assert "Chinstrap outside" in results_of(after)
        assert "Gentoo colony" in results_of(after)

    def test_the_htmx_results_are_the_fragment_of_the_page(self, client, alice):
        record(alice, name="Adelie nests", tags=["nest"], is_public=True)
        client.force_login(alice)
        page = get(client, URL + "?tag=nest")
        fragment = get(client, URL + "?tag=nest", **HX)
        assert fragment.strip() == results_of(page)
        assert "Adelie nests" in fragment


class TestEachUserTheirOwnPage:
    def test_each_user_gets_their_own_page(self, client, alice, bob, carol):
        for user in (alice, bob, carol, alice):
            client.force_login(user)
            body = get(client)
            assert f"{user.username} · " in body
            others = {"alice", "bob", "carol"} - {user.username}
            assert not any(f"{name} · " in body for name in others)
        client.force_login(carol)  # a viewer: no New record form at all
        assert 'id="create-form"' not in get(client)

    def test_a_change_to_the_user_shows_in_the_header_at_once(self, client, carol):
        client.force_login(carol)
        before = get(client)
        assert '<span class="badge">viewer</span>' in before
        assert 'href="/kurrent-db-demo/users/"' not in before
        carol.groups.set([Group.objects.get(name=roles.ADMIN)])
        carol.username = "carol-renamed"
        carol.save()
        after = get(client)
        assert "carol-renamed · " in after
        assert '<span class="badge">admin</span>' in after
        assert 'href="/kurrent-db-demo/users/"' in after  # the admins' nav
        assert 'id="create-form"' in after  # and admins may create

    def test_a_private_record_never_reaches_another_user(self, client, alice, bob, carol):
        record(alice, name="Alice secret plan", is_public=False)
        record(alice, name="Alice public note", is_public=True)
        client.force_login(alice)
        assert "Alice secret plan" in get(client)
        assert "Alice secret plan" in get(client, **HX)
        for other in (bob, carol):
            client.force_login(other)
            for headers in ({}, HX):
                body = get(client, **headers)
                assert "Alice public note" in body
                assert "Alice secret plan" not in body

    def test_an_admin_sees_it_and_alice_still_does(self, client, alice, admin_user):
        record(alice, name="Alice secret plan", is_public=False)
        client.force_login(admin_user)
        assert "Alice secret plan" in get(client)
        client.force_login(alice)
        assert "Alice secret plan" in get(client)


class TestFreshPerRender:
    def test_every_load_has_its_own_token_and_key(self, client, alice):
        client.force_login(alice)
        first, second = get(client), get(client)
        assert KEY.findall(first) != KEY.findall(second)
        assert TOKEN.findall(first) != TOKEN.findall(second)
        assert len(set(TOKEN.findall(second))) == 1  # one masking per request, every form

    def test_a_message_is_shown_once(self, client, alice):
        client.force_login(alice)
        get(client)
        response = client.post(
            "/kurrent-db-demo/records/new/",
            {"name": "Flash note", "data": "{}", "tags": "", "idempotency_key": str(uuid.uuid4())},
        )
        assert response.status_code == 302
        assert "Created “Flash note”" in get(client)
        after = get(client)
        assert "Created “Flash note”" not in after
        assert "Flash note" in results_of(after)

    def test_an_unreachable_node_shows_on_the_next_load(self, client, alice, kdb):
        client.force_login(alice)
        assert "is unreachable" not in get(client)
        kdb.stop()
        connections.reset()
        deadline = time.monotonic() + 15
        body = ""
        while "is unreachable" not in body and time.monotonic() < deadline:
            body = get(client)
            time.sleep(0.1)
        assert "is unreachable" in body


class TestTimes:
    """The record list and the feed are kept as HTML (kurrent.web.fragments), so they carry
    moments, never "42 s ago": the browser words them (static/js/base.js)."""

    def test_the_list_and_feed_carry_utc_moments(self, client, alice):
        made = record(alice, name="Macaroni colony", is_public=True)
        client.force_login(alice)
        body = get(client)
        moment = re.compile(
            r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" data-ago>[^<]+ UTC</time>'
        )
        assert moment.search(results_of(body))
        assert moment.search(feed_of(body))
        assert made.name in results_of(body)

    def test_the_same_state_renders_the_same_at_any_moment(self, client, alice, monkeypatch):
        record(alice, name="Macaroni colony", is_public=True)
        client.force_login(alice)
        now = get(client)

        class ThreeHoursLater(datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.now(tz) + timedelta(hours=3)

        monkeypatch.setattr(formatting, "datetime", ThreeHoursLater)
        fragments.clear()  # rendered afresh, three hours on
        later = get(client)
        assert results_of(later) == results_of(now)
        assert feed_of(later).split("</section>")[0] == feed_of(now).split("</section>")[0]

    def test_a_name_is_text(self, client, alice):
        record(alice, name="<!--ago:0.0-->", is_public=True)
        client.force_login(alice)
        body = get(client)
        assert "&lt;!--ago:0.0--&gt;" in body
        assert "<!--ago:" not in body


class TestFragmentKey:
    """kurrent.web.fragments: a kept list is reused only under its whole key."""

    def test_a_second_load_reuses_the_list_and_feed(self, client, alice):
        record(alice, name="Colony", is_public=True)
        client.force_login(alice)
        get(client)
        with CaptureQueriesContext(connection) as queries:
            again = get(client)
        assert "Colony" in results_of(again)
        assert not any("kurrent_streamrecord" in q["sql"] for q in queries.captured_queries)
        assert not any("kurrent_activity" in q["sql"] for q in queries.captured_queries)

    def test_each_query_string_has_its_own_entry(self, client, alice):
        record(alice, name="Adelie nests", tags=["nest"], is_public=True)
        record(alice, name="Emperor huddle", tags=["huddle"], is_public=True)
        client.force_login(alice)
        nest = get(client, URL + "?tag=nest", **HX)
        huddle = get(client, URL + "?tag=huddle", **HX)
        assert "Adelie nests" in nest and "Emperor huddle" not in nest
        assert "Emperor huddle" in huddle and "Adelie nests" not in huddle

    def test_a_role_change_is_a_new_entry(self, client, alice, carol):
        record(alice, name="Alice secret plan", is_public=False)
        client.force_login(carol)
        assert "Alice secret plan" not in get(client)
        carol.groups.set([Group.objects.get(name=roles.ADMIN)])
        assert "Alice secret plan" in get(client)

    def test_entries_expire(self, client, alice, monkeypatch):
        record(alice, name="Colony", is_public=True)
        client.force_login(alice)
        get(client)
        monkeypatch.setattr(fragments, "TTL_S", 0.0)
        with CaptureQueriesContext(connection) as queries:
            get(client)
        assert any("kurrent_streamrecord" in q["sql"] for q in queries.captured_queries)
