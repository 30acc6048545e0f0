"""The event browser newest first by default, with a toggle, and each event's data and
metadata pretty or as stored, with copy buttons (as the record page has)."""

from __future__ import annotations

import json
import re

import pytest
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState

from kurrent.services import records
from tests.kurrent.viewtools import HX, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/events/"


def positions(response) -> list[int]:
    return [e.position for e in response.context["browse"].events]


class TestOrder:
    def test_newest_comes_first_by_default_and_oldest_on_request(self, client, alice, admin_user):
        for i in range(3):
            record(alice, name=f"R{i}")
        client.force_login(admin_user)

        newest = positions(client.get(URL))
        oldest = positions(client.get(URL, {"order": "oldest"}))

        assert newest == sorted(newest, reverse=True)
        assert oldest == sorted(oldest)
        assert newest[0] > oldest[0]

    def test_next_goes_to_older_events_and_back(self, client, alice, admin_user):
        for i in range(12):
            record(alice, name=f"R{i}")
        client.force_login(admin_user)
        first = client.get(URL, {"size": "10"})
        page = first.context["browse"]
        assert page.newest_first and page.has_next and not page.has_previous

        older = client.get(URL + "?" + first.context["links"]["next"])

        assert max(positions(older)) < min(positions(first))
        assert older.context["browse"].has_previous
        back = client.get(URL + "?" + older.context["links"]["previous"])
        assert positions(back) == positions(first)
        last = client.get(URL + "?" + first.context["links"]["last"])
        assert positions(last) == sorted(positions(last), reverse=True)
        assert min(positions(last)) <= min(positions(older))

    def test_the_toggle_keeps_the_filters(self, client, alice, admin_user):
        r = record(alice)
        records.update_record(alice, r.id, expected_version=0, name="Renamed")
        client.force_login(admin_user)

        body = client.get(URL, {"stream": f"pool-{r.id}", "size": "10"}, **HX).content.decode()

        assert "Newest first" in body and "Oldest first" in body
        assert f"stream=pool-{r.id}&amp;size=10&amp;order=oldest" in body
        assert re.search(r'aria-current="true">Newest first', body)

    def test_an_unknown_order_is_refused_with_the_field_named(self, client, admin_user):
        client.force_login(admin_user)
        response = client.get(URL, {"order": "sideways"})
        assert response.status_code == 400
        assert "sideways" in response.content.decode()


class TestRawView:
    def test_data_and_metadata_come_pretty_and_as_stored_with_copy_buttons(
        self, client, alice, admin_user, kdb
    ):
        stored = b'{"b":1,  "a":[1,2]}'
        raw = KurrentDBClient(uri=kdb.url)
        try:
            raw.append_to_stream(
                "odd-1",
                current_version=StreamState.NO_STREAM,
                events=NewEvent(type="OddThing", data=stored, metadata=b'{"m":true}'),
            )
        finally:
            raw.close()
        client.force_login(admin_user)

        body = client.get(URL, {"stream": "odd-1"}).content.decode()

        assert 'id="event-1-data"' in body and 'id="event-1-metadata"' in body
        assert "{&quot;b&quot;:1,  &quot;a&quot;:[1,2]}" in body  # as stored, spacing kept
        assert (
            json.dumps({"b": 1, "a": [1, 2]}, indent=2).split("\n")[1].replace('"', "&quot;")
            in body
        )  # pretty
        assert body.count('data-copy-target="#event-1-') == 2
        assert 'data-json-toggle="#event-1-data"' in body

    def test_without_js_format_raw_shows_the_stored_text(self, client, alice, admin_user):
        r = record(alice, name="Shown raw")
        client.force_login(admin_user)

        body = client.get(URL, {"stream": f"pool-{r.id}", "format": "raw"}).content.decode()

        raw_view = re.search(r'<pre data-json-view="raw"[^>]*>', body).group(0)
        pretty_view = re.search(r'<pre data-json-view="pretty"[^>]*>', body).group(0)
        assert "hidden" not in raw_view and "hidden" in pretty_view
        assert f"stream=pool-{r.id}&amp;format=pretty" in body
