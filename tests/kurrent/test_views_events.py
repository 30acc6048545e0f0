from __future__ import annotations

import pytest

from kurrent.services import records
from tests.kurrent.viewtools import HX, SCRIPT, is_fragment, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/events/"


def event_types(response):
    return [e.type for e in response.context["browse"].events]


class TestEventBrowser:
    def test_it_requires_login(self, client):
        assert client.get(URL).status_code == 302

    @pytest.mark.parametrize("who", ["carol", "alice"])
    def test_it_is_for_admins_only(self, client, who, request):
        client.force_login(request.getfixturevalue(who))
        assert client.get(URL).status_code == 403

    def test_it_hides_the_link_from_non_admins(self, client, alice, admin_user):
        client.force_login(alice)
        assert (
            'href="/kurrent-db-demo/events/"'
            not in client.get("/kurrent-db-demo/").content.decode()
        )
        client.force_login(admin_user)
        assert 'href="/kurrent-db-demo/events/"' in client.get("/kurrent-db-demo/").content.decode()

    def test_it_reads_all_with_details(self, client, alice, admin_user):
        r = record(alice, name="Raw one", data={"x": 1})
        client.force_login(admin_user)
        response = client.get(URL)
        assert response.status_code == 200
        [event] = [e for e in response.context["browse"].events if e.stream == f"pool-{r.id}"]
        body = response.content.decode()
        assert event.type == "StreamCreated"
        assert event.id in body
        assert f"pool-{r.id}@0" in body
        assert "&quot;name&quot;: &quot;Raw one&quot;" in body  # data, pretty JSON
        assert "&quot;actor&quot;" in body  # metadata
        assert " UTC" in body

    def test_it_reads_one_stream(self, client, alice, admin_user):
        r = record(alice)
        record(alice, name="Other")
        records.update_record(alice, r.id, expected_version=0, name="Renamed")
        client.force_login(admin_user)
        response = client.get(URL, {"stream": f"pool-{r.id}"})
        assert event_types(response) == ["StreamUpdated", "StreamCreated"]  # newest first
        oldest = client.get(URL, {"stream": f"pool-{r.id}", "order": "oldest"})
        assert event_types(oldest) == ["StreamCreated", "StreamUpdated"]

    def test_it_filters_by_event_type(self, client, alice, admin_user):
        r = record(alice)
        records.update_record(alice, r.id, expected_version=0, name="Renamed")
        client.force_login(admin_user)
        assert set(event_types(client.get(URL, {"type": "StreamUpdated"}))) == {"StreamUpdated"}
        stream = client.get(URL, {"stream": f"pool-{r.id}", "type": "StreamUpdated"})
        assert event_types(stream) == ["StreamUpdated"]

    def test_system_events_are_hidden_by_default(self, client, alice, admin_user, kdb):
        from kurrentdbclient import KurrentDBClient, NewEvent, StreamState

        raw = KurrentDBClient(uri=kdb.url)
        try:
            raw.append_to_stream(
                "$sys-test",
                current_version=StreamState.ANY,
                events=NewEvent(type="$SystemThing", data=b"{}"),
            )
        finally:
            raw.close()
        record(alice)
        client.force_login(admin_user)
        assert "$SystemThing" not in event_types(client.get(URL))
        assert "$SystemThing" in event_types(client.get(URL, {"system": "on"}))

    def test_it_pages_first_next_previous_last(self, client, alice, admin_user):
        for i in range(5):
            record(alice, name=f"R{i}")
        client.force_login(admin_user)
        first = client.get(URL, {"size": "10"})
        assert len(first.context["browse"].events) == 5
        # Pages of 2 would be nicer, but sizes are fixed choices: use the raw cursor.
        page = first.context["browse"]
        assert not page.has_previous and not page.has_next
        links = first.context["links"]
        assert "go=first" in links["first"] and "go=last" in links["last"]
        positions = [e.position for e in page.events]
        after = client.get(URL, {"size": "10", "go": "after", "pos": positions[1]})
        assert [e.position for e in after.context["browse"].events] == positions[2:]
        before = client.get(URL, {"size": "10", "go": "before", "pos": positions[3]})
        assert [e.position for e in before.context["browse"].events] == positions[:3]
        last = client.get(URL, {"size": "10", "go": "last"})
        assert [e.position for e in last.context["browse"].events] == positions

    def test_paging_links_appear_when_there_is_more(self, client, alice, admin_user):
        for i in range(12):
            record(alice, name=f"R{i}")
        client.force_login(admin_user)
        first = client.get(URL, {"size": "10"})
        assert first.context["browse"].has_next
        nxt = client.get("/kurrent-db-demo/events/?" + first.context["links"]["next"])
        assert len(nxt.context["browse"].events) == 2
        assert nxt.context["browse"].has_previous and not nxt.context["browse"].has_next
        prev = client.get("/kurrent-db-demo/events/?" + nxt.context["links"]["previous"])
        assert [e.position for e in prev.context["browse"].events] == [
            e.position for e in first.context["browse"].events
        ]

    def test_a_missing_stream_is_explained(self, client, admin_user):
        client.force_login(admin_user)
        response = client.get(URL, {"stream": "pool-nothing-here"})
        assert response.status_code == 200
        assert "There is no stream named" in response.content.decode()

    def test_htmx_gets_the_page_fragment(self, client, admin_user):
        client.force_login(admin_user)
        response = client.get(URL, **HX)
        assert is_fragment(response)
        assert response.content.decode().lstrip().startswith('<div id="event-page"')

    def test_it_escapes_event_data(self, client, alice, admin_user):
        record(alice, name=SCRIPT)
        client.force_login(admin_user)
        assert "<script>alert" not in client.get(URL).content.decode()

    def test_bad_paging_input_is_400(self, client, admin_user):
        client.force_login(admin_user)
        assert client.get(URL, {"pos": "-3", "go": "after"}).status_code == 400
