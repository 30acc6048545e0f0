from __future__ import annotations

import pytest

from tests.kurrent.viewtools import record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/env/"
DASHBOARD = "/kurrent-db-demo/"


class TestSwitchEnv:
    def test_it_requires_login(self, client):
        assert client.post(URL, {"env": "staging"}).status_code == 302

    @pytest.mark.parametrize("who", ["carol", "alice"])
    def test_it_is_for_admins_only(self, client, who, request):
        client.force_login(request.getfixturevalue(who))
        response = client.post(URL, {"env": "staging"})
        assert response.status_code == 403
        assert "kurrent_env" not in client.session

    def test_it_rejects_get(self, client, admin_user):
        client.force_login(admin_user)
        assert client.get(URL).status_code == 405

    def test_it_rejects_unknown_environments(self, client, admin_user):
        client.force_login(admin_user)
        assert client.post(URL, {"env": "prod"}).status_code == 400

    def test_it_switches_and_the_whole_page_follows(self, client, admin_user, alice):
        record(alice, name="Lives in dev", is_public=True)
        client.force_login(admin_user)
        response = client.post(URL, {"env": "staging", "next": DASHBOARD})
        assert response.status_code == 302 and response["Location"] == DASHBOARD
        assert client.session["kurrent_env"] == "staging"
        page = client.get(DASHBOARD)
        body = page.content.decode()
        assert "Showing the <strong>staging</strong> environment" in body
        assert "Lives in dev" not in body
        assert "is not configured" in body  # banner: staging has no URL
        # Write forms say why they cannot submit.
        assert "no KurrentDB connection configured" in page.context["write_blocked"]
        assert "<fieldset disabled>" in body

    def test_switching_back_to_the_default_clears_the_session(self, client, admin_user):
        client.force_login(admin_user)
        client.post(URL, {"env": "staging"})
        client.post(URL, {"env": "dev"})
        assert "kurrent_env" not in client.session

    def test_mainnet_shows_a_production_banner(self, client, admin_user):
        client.force_login(admin_user)
        client.post(URL, {"env": "mainnet"})
        body = client.get(DASHBOARD).content.decode()
        assert "You are looking at <strong>mainnet</strong>" in body

    def test_it_ignores_unsafe_next_urls(self, client, admin_user):
        client.force_login(admin_user)
        response = client.post(URL, {"env": "staging", "next": "https://evil.example/"})
        assert response["Location"] == DASHBOARD

    def test_the_switcher_is_shown_to_admins_only(self, client, admin_user, alice):
        client.force_login(alice)
        assert 'action="/kurrent-db-demo/env/"' not in client.get(DASHBOARD).content.decode()
        client.force_login(admin_user)
        assert 'action="/kurrent-db-demo/env/"' in client.get(DASHBOARD).content.decode()

    def test_a_stale_session_choice_is_ignored_for_non_admins(self, client, alice):
        client.force_login(alice)
        session = client.session
        session["kurrent_env"] = "staging"
        session.save()
        body = client.get(DASHBOARD).content.decode()
        assert "Showing the <strong>dev</strong> environment" in body
