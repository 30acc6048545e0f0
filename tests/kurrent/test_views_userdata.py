from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from kurrent.core.errors import NotFound
from kurrent.services import userdata
from tests.kurrent.viewtools import HX, SCRIPT, entry, is_fragment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
PAGE = "/kurrent-db-demo/me/"
CREATE = "/kurrent-db-demo/me/new/"


def store_form(**changes):
    data = {
        "entry_type": "preferences",
        "category": "ui",
        "value": json.dumps({"theme": "dark"}),
        "tags": "",
        "idempotency_key": str(uuid.uuid4()),
    }
    data.update(changes)
    return data


class TestUserDataPage:
    def test_it_requires_login(self, client):
        assert client.get(PAGE).status_code == 302

    @pytest.mark.parametrize("who", ["carol", "alice", "admin_user"])
    def test_it_works_for_every_role(self, client, who, request):
        client.force_login(request.getfixturevalue(who))
        response = client.get(PAGE)
        assert response.status_code == 200
        assert "You have no entries yet." in response.content.decode()

    def test_it_groups_by_type_and_category(self, client, alice):
        entry(alice, entry_type="profile", category="contact", value={"email": "a@x.org"})
        entry(alice, entry_type="profile", category="bio", value={"text": "Hi"})
        entry(alice, entry_type="settings", category="alerts", value={"on": True})
        client.force_login(alice)
        response = client.get(PAGE)
        grouped = response.context["grouped"]
        assert [t for t, _ in grouped] == ["profile", "settings"]
        assert [c for c, _ in grouped[0][1]] == ["bio", "contact"]
        assert "3 entries" in response.content.decode()

    def test_it_shows_only_the_users_own_entries(self, client, alice, bob):
        entry(bob, category="bobs-secret", value={"pin": "1234"})
        entry(bob, category="bobs-public", value={"x": 1}, is_public=True)
        client.force_login(alice)
        body = client.get(PAGE).content.decode()
        assert "bobs-secret" not in body and "bobs-public" not in body

    def test_viewers_see_no_store_form(self, client, carol):
        client.force_login(carol)
        assert 'action="/kurrent-db-demo/me/new/"' not in client.get(PAGE).content.decode()

    def test_it_escapes_values(self, client, alice):
        entry(alice, category=SCRIPT, value={"v": SCRIPT})
        client.force_login(alice)
        body = client.get(PAGE).content.decode()
        assert "<script>alert" not in body


class TestEntryCreate:
    def test_it_stores_and_redirects(self, client, alice):
        client.force_login(alice)
        response = client.post(CREATE, store_form(is_public="on"))
        assert response.status_code == 302 and response["Location"] == PAGE
        [stored] = userdata.list_entries(alice)["preferences"]
        assert (stored.category, stored.value, stored.is_public) == ("ui", {"theme": "dark"}, True)

    def test_htmx_success_reloads_the_page(self, client, alice):
        client.force_login(alice)
        response = client.post(CREATE, store_form(), **HX)
        assert response["HX-Redirect"] == PAGE

    def test_viewers_may_not_store(self, client, carol):
        client.force_login(carol)
        assert client.post(CREATE, store_form()).status_code == 403

    def test_bad_input_is_shown_on_the_form(self, client, alice):
        client.force_login(alice)
        response = client.post(CREATE, store_form(value="[]"), **HX)
        assert response.status_code == 200
        assert is_fragment(response)
        assert "Enter a JSON object" in response.content.decode()
        assert not any(userdata.list_entries(alice).values())

    def test_an_unknown_type_is_refused(self, client, alice):
        client.force_login(alice)
        response = client.post(CREATE, store_form(entry_type="secrets"))
        assert response.status_code == 400

    def test_it_enforces_csrf(self, alice):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        assert client.post(CREATE, store_form()).status_code == 403


class TestEntryVisibility:
    def url(self, e):
        return f"/kurrent-db-demo/me/{e.id}/visibility/"

    def test_htmx_toggle_swaps_the_card(self, client, alice):
        e = entry(alice)
        client.force_login(alice)
        response = client.post(self.url(e), {"expected_version": "0", "is_public": "on"}, **HX)
        assert response.status_code == 200
        assert is_fragment(response)
        body = response.content.decode()
        assert f'id="entry-{e.id}"' in body and ">public<" in body and "Make private" in body
        assert userdata.get_entry(alice, e.id).is_public is True

    def test_plain_toggle_redirects(self, client, alice):
        e = entry(alice, is_public=True)
        client.force_login(alice)
        response = client.post(self.url(e), {"expected_version": "0"})
        assert response.status_code == 302 and response["Location"] == PAGE
        assert userdata.get_entry(alice, e.id).is_public is False

    def test_a_stale_toggle_shows_the_current_state(self, client, alice):
        e = entry(alice)
        userdata.update_entry(alice, e.id, expected_version=0, value={"changed": True})
        client.force_login(alice)
        response = client.post(self.url(e), {"expected_version": "0", "is_public": "on"}, **HX)
        assert "It changed meanwhile" in response.content.decode()
        assert userdata.get_entry(alice, e.id).is_public is False

    @pytest.mark.parametrize("who", ["bob", "carol"])
    def test_others_may_not_toggle(self, client, alice, who, request):
        e = entry(alice, is_public=True)
        client.force_login(request.getfixturevalue(who))
        assert client.post(self.url(e), {"expected_version": "0"}).status_code == 403
        assert userdata.get_entry(alice, e.id).is_public is True

    def test_a_private_entry_is_invisible_to_others(self, client, alice, bob):
        e = entry(alice)
        client.force_login(bob)
        assert client.post(self.url(e), {"expected_version": "0"}).status_code == 404


class TestEntryEdit:
    def url(self, e):
        return f"/kurrent-db-demo/me/{e.id}/edit/"

    def test_it_updates(self, client, alice):
        e = entry(alice)
        client.force_login(alice)
        assert client.get(self.url(e)).status_code == 200
        response = client.post(
            self.url(e),
            {
                "category": "contact",
                "value": '{"email": "new@x.org"}',
                "tags": "work",
                "expected_version": "0",
                "idempotency_key": str(uuid.uuid4()),
            },
        )
        assert response.status_code == 302
        saved = userdata.get_entry(alice, e.id)
        assert saved.value == {"email": "new@x.org"} and saved.tags == ("work",)

    def test_a_conflict_keeps_the_users_values(self, client, alice):
        e = entry(alice)
        userdata.update_entry(alice, e.id, expected_version=0, value={"email": "theirs@x.org"})
        client.force_login(alice)
        response = client.post(
            self.url(e),
            {
                "category": "contact",
                "value": '{"email": "mine@x.org"}',
                "expected_version": "0",
                "idempotency_key": str(uuid.uuid4()),
            },
        )
        assert response.status_code == 409
        body = response.content.decode()
        assert "This entry changed while you were editing it" in body
        assert "mine@x.org" in body and "theirs@x.org" in body
        assert userdata.get_entry(alice, e.id).value == {"email": "theirs@x.org"}

    def test_others_get_403(self, client, alice, bob):
        e = entry(alice, is_public=True)
        client.force_login(bob)
        assert client.get(self.url(e)).status_code == 403

    def test_unknown_entries_are_404(self, client, alice):
        client.force_login(alice)
        assert client.get(f"/kurrent-db-demo/me/{uuid.uuid4()}/edit/").status_code == 404


class TestEntryDelete:
    def url(self, e):
        return f"/kurrent-db-demo/me/{e.id}/delete/"

    def test_it_confirms_then_deletes(self, client, alice):
        e = entry(alice)
        client.force_login(alice)
        assert "Delete profile · contact?" in client.get(self.url(e)).content.decode()
        response = client.post(
            self.url(e), {"expected_version": "0", "idempotency_key": str(uuid.uuid4())}
        )
        assert response.status_code == 302
        with pytest.raises(NotFound):
            userdata.get_entry(alice, e.id)

    def test_an_entry_changed_meanwhile_asks_again(self, client, alice):
        e = entry(alice)
        userdata.update_entry(alice, e.id, expected_version=0, value={"email": "theirs@x.org"})
        client.force_login(alice)
        response = client.post(
            self.url(e), {"expected_version": "0", "idempotency_key": str(uuid.uuid4())}
        )
        assert response.status_code == 409
        body = response.content.decode()
        assert "The entry changed since you opened this page" in body
        assert 'name="expected_version" value="1"' in body and "theirs@x.org" in body
        assert userdata.get_entry(alice, e.id).value == {"email": "theirs@x.org"}

    def test_a_malformed_confirmation_deletes_nothing(self, client, alice):
        e = entry(alice)
        client.force_login(alice)
        response = client.post(self.url(e), {"expected_version": "-1", "idempotency_key": "x"})
        assert response.status_code == 400
        assert 'name="expected_version" value="-1"' in response.content.decode()
        assert userdata.get_entry(alice, e.id).version == 0

    def test_others_get_403(self, client, alice, bob):
        e = entry(alice, is_public=True)
        client.force_login(bob)
        response = client.post(
            self.url(e), {"expected_version": "0", "idempotency_key": str(uuid.uuid4())}
        )
        assert response.status_code == 403
        assert userdata.get_entry(alice, e.id)
