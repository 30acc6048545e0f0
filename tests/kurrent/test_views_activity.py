from __future__ import annotations

import pytest

from kurrent.readmodel import activity
from tests.kurrent.viewtools import HX, is_fragment, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/activity/"
NEW = "/kurrent-db-demo/activity/new/"


def newest_position(env="dev"):
    return activity.recent_events(env, limit=1)[0].position


class TestActivity:
    def test_it_requires_login(self, client):
        assert client.get(URL).status_code == 302
        # A signed-out poll sends the whole page to the login form.
        assert client.get(NEW, **HX)["HX-Redirect"].startswith("/accounts/login/")

    def test_it_lists_events_newest_first(self, client, alice):
        record(alice, name="First", is_public=True)
        record(alice, name="Second", is_public=True)
        client.force_login(alice)
        response = client.get(URL)
        titles = [item.title for item in response.context["activity"]]
        assert titles[:2] == ["Second", "First"]

    def test_private_titles_stay_private(self, client, alice, bob, admin_user):
        record(alice, name="Alice's secret")
        client.force_login(bob)
        assert "Alice&#x27;s secret" not in client.get(URL).content.decode()
        client.force_login(admin_user)
        assert "Alice&#x27;s secret" in client.get(URL).content.decode()

    def test_htmx_gets_the_feed_fragment(self, client, carol):
        client.force_login(carol)
        response = client.get(URL, **HX)
        assert is_fragment(response)
        assert response.content.decode().lstrip().startswith('<div id="activity-feed"')

    def test_nothing_new_is_a_204_so_htmx_leaves_the_page_alone(self, client, alice):
        record(alice, is_public=True)
        client.force_login(alice)
        response = client.get(NEW, {"after": newest_position()}, **HX)
        assert response.status_code == 204

    def test_new_events_are_counted_not_pushed(self, client, alice, bob):
        record(alice, name="Seen", is_public=True)
        cursor = newest_position()
        record(bob, name="New 1", is_public=True)
        record(bob, name="New 2", is_public=True)
        record(bob, name="Bob private")  # not visible to alice
        client.force_login(alice)
        response = client.get(NEW, {"after": cursor}, **HX)
        assert response.status_code == 200
        body = response.content.decode()
        assert "2 new events" in body
        assert "New 1" not in body  # a button to load them, not the events themselves
        assert 'hx-get="/kurrent-db-demo/activity/"' in body

    def test_a_bad_cursor_is_400(self, client, alice):
        client.force_login(alice)
        assert client.get(NEW, {"after": "x"}, **HX).status_code == 400
