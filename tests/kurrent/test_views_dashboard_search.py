"""The dashboard's search as people use it: several tags, the owner in any case with
suggestions, and Back (htmx asks for a whole page it no longer holds)."""

from __future__ import annotations

import re

import pytest

from tests.kurrent.viewtools import HX, is_fragment, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/"
OWNERS = "/kurrent-db-demo/records/owners/"


def names(response) -> list[str]:
    return [r.name for r in response.context["results"].items]


class TestSearchBox:
    def test_a_word_typed_past_its_stem_finds_it(self, client, alice):
        record(alice, "Sea ice breaking up")
        client.force_login(alice)

        response = client.get(URL, {"q": "breaki"}, **HX)

        assert is_fragment(response)
        assert "Sea ice breaking up" in response.content.decode()

    def test_several_tags_must_all_match(self, client, alice):
        record(alice, "Both", tags=["seal", "survey"])
        record(alice, "One", tags=["seal"])
        client.force_login(alice)

        assert names(client.get(URL, {"tag": "seal survey"})) == ["Both"]
        assert names(client.get(URL, {"tag": "seal,survey", "q": "both"})) == ["Both"]
        assert sorted(names(client.get(URL, {"tag": "seal"}))) == ["Both", "One"]

    def test_the_tag_box_says_several_may_be_given(self, client, alice):
        client.force_login(alice)
        body = client.get(URL).content.decode()
        assert "Several tags, separated by spaces or commas" in body

    def test_the_owner_filter_ignores_case(self, client, alice, bob):
        record(alice, "Mine", is_public=True)
        record(bob, "Theirs")
        client.force_login(bob)

        assert names(client.get(URL, {"owner": "ALICE"})) == ["Mine"]

    def test_a_record_is_found_by_the_first_8_digits_of_its_id(self, client, alice):
        made = record(alice, "Krill")
        record(alice, "Other")
        client.force_login(alice)

        assert names(client.get(URL, {"q": made.id[:8]})) == ["Krill"]

    def test_back_to_an_uncached_page_gets_the_whole_page(self, client, alice):
        record(alice, "Krill")
        client.force_login(alice)

        response = client.get(URL, {"q": "krill"}, **HX, HTTP_HX_HISTORY_RESTORE_REQUEST="true")

        body = response.content.decode()
        assert not is_fragment(response)
        assert 'name="q" id="id_q" value="krill"' in body
        assert "HX-History-Restore-Request" in response["Vary"]

    def test_the_search_form_is_refilled_from_the_url_on_back(self, client, alice):
        client.force_login(alice)
        body = client.get(URL).content.decode()
        assert "js/inplace.js" in body
        assert re.search(r'<form class="record-search"[^>]*data-restore-from-url', body)


class TestOwnerSuggestions:
    def test_it_suggests_owners_the_viewer_can_see_in_any_case(self, client, alice, bob, carol):
        record(alice, "Visible", is_public=True)
        record(bob, "Hidden", is_public=False)
        client.force_login(carol)

        body = client.get(OWNERS, {"owner": "AL"}, **HX).content.decode()
        assert '<option value="alice">' in body
        assert client.get(OWNERS, {"owner": "b"}, **HX).content.decode().strip() == ""

    def test_names_are_escaped(self, client, alice):
        from tests.conftest import _user

        odd = _user('al"<x>', "editor")
        record(odd, "Odd", is_public=True)
        client.force_login(alice)

        body = client.get(OWNERS, {"owner": "al"}).content.decode()
        assert "&quot;&lt;x&gt;" in body and "<x>" not in body

    def test_the_owner_box_asks_for_suggestions(self, client, alice):
        client.force_login(alice)
        body = client.get(URL).content.decode()
        assert 'list="owner-suggestions"' in body and OWNERS in body

    def test_it_needs_a_login(self, client):
        response = client.get(OWNERS, {"owner": "a"})
        assert response.status_code == 302
