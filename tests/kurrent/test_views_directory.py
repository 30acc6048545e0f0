from __future__ import annotations

import pytest

from tests.kurrent.viewtools import HX, entry, is_fragment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/directory/"


class TestDirectory:
    def test_it_requires_login(self, client):
        assert client.get(URL).status_code == 302

    @pytest.mark.parametrize("who", ["carol", "alice", "admin_user"])
    def test_it_lists_public_entries_only(self, client, alice, bob, who, request):
        entry(alice, category="public-contact", is_public=True)
        entry(bob, category="private-notes", value={"secret": "bobs-hidden-value"})
        client.force_login(request.getfixturevalue(who))
        body = client.get(URL).content.decode()
        assert "public-contact" in body
        assert "private-notes" not in body and "bobs-hidden-value" not in body

    def test_it_filters_by_text_and_type(self, client, alice, carol):
        entry(
            alice,
            entry_type="profile",
            category="contact",
            value={"city": "Hobart"},
            is_public=True,
        )
        entry(
            alice, entry_type="settings", category="alerts", value={"city": "Oslo"}, is_public=True
        )
        client.force_login(carol)
        response = client.get(URL, {"q": "hobart"})
        assert [e.category for e in response.context["results"].items] == ["contact"]
        response = client.get(URL, {"type": "settings"})
        assert [e.category for e in response.context["results"].items] == ["alerts"]

    def test_htmx_gets_the_results_only(self, client, alice, carol):
        entry(alice, is_public=True)
        client.force_login(carol)
        response = client.get(URL, {"q": "contact"}, **HX)
        assert is_fragment(response)
        assert response.content.decode().lstrip().startswith('<div id="directory-results"')

    def test_admins_get_links_to_each_users_data(self, client, alice, admin_user, carol):
        entry(alice, is_public=True)
        link = f'href="/kurrent-db-demo/users/{alice.pk}/data/"'
        client.force_login(carol)
        assert link not in client.get(URL).content.decode()
        client.force_login(admin_user)
        assert link in client.get(URL).content.decode()

    def test_empty_state(self, client, carol):
        client.force_login(carol)
        assert "No public entries." in client.get(URL).content.decode()
