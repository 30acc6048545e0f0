from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse, set_script_prefix

from kurrent.web.templatetags import record_url
from tests.kurrent.viewtools import HX, SCRIPT, is_fragment, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/"
CREATE = "/kurrent-db-demo/records/new/"


def _hidden_in(html: str, name: str) -> list[str]:
    """The values of the hidden inputs called `name`, in page order."""
    found = re.findall(r"<input[^>]*>", html)
    return [
        re.search(r'value="([^"]*)"', tag).group(1)
        for tag in found
        if f'name="{name}"' in tag and 'value="' in tag
    ]


def names(response):
    return [r.name for r in response.context["results"].items]


class TestDashboard:
    def test_root_redirects_to_it(self, client):
        response = client.get("/")
        assert response.status_code == 302
        assert response["Location"] == URL

    def test_it_sends_anonymous_users_to_login(self, client):
        response = client.get(URL)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")

    @pytest.mark.parametrize("who", ["carol", "alice", "admin_user"])
    def test_it_works_for_every_role(self, client, who, request):
        user = request.getfixturevalue(who)
        client.force_login(user)
        response = client.get(URL)
        assert response.status_code == 200
        body = response.content.decode()
        assert 'id="status-panel"' in body
        # Polls pause while the tab is hidden in static/js/base.js (data-poll-guard), not
        # in an hx-trigger filter: htmx evaluates those as code, which the CSP refuses.
        assert 'hx-trigger="every 5s, pp:visible"' in body and "data-poll-guard" in body
        assert 'aria-live="polite"' in body
        assert "X-CSRFToken" in body  # hx-headers on <body>

    def test_it_shows_one_status_card_per_environment(self, client, carol):
        client.force_login(carol)
        body = client.get(URL).content.decode()
        for env in ("dev", "staging", "test", "mainnet"):
            assert f'id="status-{env}"' in body
        assert "Not configured" in body  # staging, test and mainnet have no URL
        assert "Production" in body  # mainnet's badge
        assert 'data-state="connected"' in body  # dev, on the test's node

    def test_it_hides_the_create_form_from_viewers(self, client, carol):
        client.force_login(carol)
        body = client.get(URL).content.decode()
        assert "New record" not in body
        assert "/records/new/" not in body

    def test_it_shows_the_create_form_with_an_idempotency_key(self, client, alice):
        client.force_login(alice)
        body = client.get(URL).content.decode()
        assert 'action="/kurrent-db-demo/records/new/"' in body
        assert 'name="idempotency_key"' in body

    def test_each_render_gets_a_new_idempotency_key(self, client, alice):
        client.force_login(alice)
        first, second = (
            _hidden_in(client.get(URL).content.decode(), "idempotency_key") for _ in range(2)
        )
        assert len(first) == len(second) == 1
        assert first != second
        uuid.UUID(first[0])

    def test_each_render_carries_a_working_csrf_token(self, alice):
        """Every page's form carries this browser's token (a fresh masking of it each
        render) and a key of its own; both work, and a post without a token does not."""
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(alice)
        pages = [browser.get(URL).content.decode() for _ in range(2)]
        tokens = [_hidden_in(page, "csrfmiddlewaretoken")[-1] for page in pages]
        assert tokens[0] != tokens[1]
        form = {"name": "Via the reused form", "data": "{}", "tags": "", "is_public": "on"}
        for token, page in zip(tokens, pages, strict=True):
            key = _hidden_in(page, "idempotency_key")[0]
            posted = browser.post(
                CREATE, {**form, "csrfmiddlewaretoken": token, "idempotency_key": key}
            )
            assert posted.status_code == 302, posted.content[:300]
        without = browser.post(CREATE, {**form, "idempotency_key": str(uuid.uuid4())})
        assert without.status_code == 403

    def test_it_lists_public_records_and_own_private_ones(self, client, alice, bob):
        record(alice, name="Alice public", is_public=True)
        record(alice, name="Alice private")
        record(bob, name="Bob private")
        client.force_login(bob)
        body = client.get(URL).content.decode()
        assert "Alice public" in body
        assert "Bob private" in body
        assert "Alice private" not in body

    def test_admin_sees_private_records(self, client, alice, admin_user):
        record(alice, name="Alice private")
        client.force_login(admin_user)
        assert "Alice private" in client.get(URL).content.decode()

    def test_search_filters_records(self, client, alice):
        record(alice, name="Emperor colony", data={"site": "Halley"})
        record(alice, name="Adelie nests", data={"site": "Hope Bay"})
        client.force_login(alice)
        response = client.get(URL, {"q": "halley"})
        assert names(response) == ["Emperor colony"]
        assert "1 record found" in response.content.decode()

    def test_page_and_fragment_vary_on_hx_request(self, client, alice):
        """One URL, two renderings: no cache (the browser's back button) may swap them."""
        client.force_login(alice)
        for headers in ({}, HX):
            assert "HX-Request" in client.get(URL, **headers)["Vary"]

    def test_search_request_from_htmx_gets_the_results_fragment(self, client, alice):
        record(alice, name="Emperor colony")
        client.force_login(alice)
        response = client.get(URL, {"q": "emperor"}, **HX)
        assert response.status_code == 200
        assert is_fragment(response)
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="record-results"')
        assert "Emperor colony" in body
        assert 'id="status-panel"' not in body

    def test_it_filters_by_tag_and_owner(self, client, alice, bob):
        record(alice, name="Tagged", tags=["rare"], is_public=True)
        record(alice, name="Untagged", tags=[], is_public=True)
        record(bob, name="Bobs rare", tags=["rare"], is_public=True)
        client.force_login(alice)
        assert sorted(names(client.get(URL, {"tag": "rare"}))) == ["Bobs rare", "Tagged"]
        assert names(client.get(URL, {"tag": "rare", "owner": "bob"})) == ["Bobs rare"]

    def test_page_size_and_page_are_kept_in_links(self, client, alice):
        for i in range(12):
            record(alice, name=f"Nest {i:02d}")
        client.force_login(alice)
        response = client.get(URL, {"size": "10"})
        results = response.context["results"]
        assert results.total == 12 and results.num_pages == 2 and len(results.items) == 10
        body = response.content.decode()
        assert 'href="?size=10&amp;page=2"' in body
        second = client.get(URL, {"size": "10", "page": "2"})
        assert len(second.context["results"].items) == 2
        assert "Page 2 of 2" in second.content.decode()

    def test_bad_paging_values_fall_back_to_defaults(self, client, alice):
        record(alice, name="Only one")
        client.force_login(alice)
        response = client.get(URL, {"size": "7", "page": "x"})
        assert response.status_code == 200
        assert response.context["results"].page_size == 20
        assert "Only one" in response.content.decode()

    def test_it_escapes_record_names(self, client, alice):
        record(alice, name=SCRIPT)
        client.force_login(alice)
        body = client.get(URL).content.decode()
        assert SCRIPT not in body
        assert "&lt;script&gt;" in body

    def test_it_shows_an_empty_state(self, client, carol):
        client.force_login(carol)
        assert "No records yet." in client.get(URL).content.decode()

    def test_it_shows_activity(self, client, alice):
        record(alice, name="Fresh record", is_public=True)
        client.force_login(alice)
        body = client.get(URL).content.decode()
        assert "StreamCreated" in body
        assert 'hx-get="/kurrent-db-demo/activity/new/?after=' in body


class TestRecordUrl:
    """The record_url filter builds what {% url 'kurrent-record' id %} would."""

    @pytest.mark.parametrize(
        "record_id",
        ["8b1d1e5e-8a52-4a39-9f37-2f0b7a43c001", "a b", "é&?#%", "x:y@z~!$'()*+,;="],
    )
    def test_it_matches_reverse(self, record_id):
        assert record_url(record_id) == reverse("kurrent-record", args=[record_id])

    def test_it_follows_the_script_prefix(self):
        set_script_prefix("/pool/")
        try:
            assert record_url("abc") == "/pool/kurrent-db-demo/records/abc/"
            assert record_url("abc") == reverse("kurrent-record", args=["abc"])
        finally:
            set_script_prefix("/")

    def test_ids_reverse_refuses_are_refused_alike(self):
        for bad in ("", "a/b"):
            with pytest.raises(NoReverseMatch):
                record_url(bad)

    def test_the_list_links_each_record(self, client, alice):
        made = record(alice, name="Linked")
        client.force_login(alice)
        body = client.get("/kurrent-db-demo/").content.decode()
        assert f'href="{reverse("kurrent-record", args=[made.id])}"' in body
