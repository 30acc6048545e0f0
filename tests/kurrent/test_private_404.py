"""Another user's private record or entry answers exactly as an unknown id does (404),
so a guessed id does not reveal that something is there; 403 stays for changes to an
item the user can see. /admin/ for a signed-in user
who may not use it is a 403 page that says so, not an endless redirect."""

from __future__ import annotations

import re
import uuid

import pytest

from kurrent.services import records, userdata
from tests.conftest import _user
from tests.kurrent.viewtools import HX, entry, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]

RECORD_PAGES = ["{}/", "{}/v/0/", "{}/diff/?from_version=0&to_version=0", "{}/edit/", "{}/delete/"]
ENTRY_PAGES = ["{}/edit/", "{}/delete/"]


def record_url(page: str, record_id: str) -> str:
    return "/kurrent-db-demo/records/" + page.format(record_id)


def entry_url(page: str, entry_id: str) -> str:
    return "/kurrent-db-demo/me/" + page.format(entry_id)


def same_page(body: str) -> str:
    """A page without what differs per render (the CSRF token)."""
    return re.sub(r'"X-CSRFToken": "[^"]*"|name="csrfmiddlewaretoken" value="[^"]*"', "", body)


def assert_like_unknown(client, private_url: str, unknown_url: str, secret: str, **extra) -> None:
    hidden = client.get(private_url, **extra)
    unknown = client.get(unknown_url, **extra)
    assert (hidden.status_code, unknown.status_code) == (404, 404)
    assert same_page(hidden.content.decode()) == same_page(unknown.content.decode())
    assert secret not in hidden.content.decode()


class TestPrivateRecords:
    @pytest.mark.parametrize("page", RECORD_PAGES)
    def test_others_get_the_unknown_id_page(self, client, alice, bob, page):
        r = record(alice, name="Secret colony")
        client.force_login(bob)
        assert_like_unknown(
            client, record_url(page, r.id), record_url(page, uuid.uuid4()), "Secret colony"
        )

    @pytest.mark.parametrize("page", RECORD_PAGES)
    def test_a_viewer_gets_it_too(self, client, alice, carol, page):
        r = record(alice, name="Secret colony")
        client.force_login(carol)
        assert_like_unknown(
            client, record_url(page, r.id), record_url(page, uuid.uuid4()), "Secret colony"
        )

    def test_also_for_htmx(self, client, alice, bob):
        r = record(alice, name="Secret colony")
        client.force_login(bob)
        page = "{}/diff/?from_version=0&to_version=0"
        private, unknown = record_url(page, r.id), record_url(page, uuid.uuid4())
        assert_like_unknown(client, private, unknown, "Secret colony", **HX)

    def test_a_deleted_private_record_too(self, client, alice, bob):
        r = record(alice, name="Secret colony")
        records.delete_record(alice, r.id, expected_version=0)
        client.force_login(bob)
        assert_like_unknown(
            client, record_url("{}/", r.id), record_url("{}/", uuid.uuid4()), "Secret colony"
        )

    @pytest.mark.parametrize("page", ["{}/edit/", "{}/delete/"])
    def test_posting_a_change_is_404_and_changes_nothing(self, client, alice, bob, page):
        r = record(alice, name="Secret colony")
        client.force_login(bob)
        form = {
            "name": "Mine now",
            "data": "{}",
            "expected_version": "0",
            "idempotency_key": str(uuid.uuid4()),
        }
        assert client.post(record_url(page, r.id), form).status_code == 404
        assert records.get_record(alice, r.id).version == 0

    def test_the_owner_and_admins_still_see_it(self, client, alice, admin_user):
        r = record(alice, name="Secret colony")
        for who in (alice, admin_user):
            client.force_login(who)
            assert client.get(record_url("{}/", r.id)).status_code == 200

    def test_changing_a_visible_record_of_another_is_still_403(self, client, alice, bob):
        r = record(alice, name="Open colony", is_public=True)
        client.force_login(bob)
        assert client.get(record_url("{}/", r.id)).status_code == 200
        assert client.get(record_url("{}/edit/", r.id)).status_code == 403


class TestPrivateEntries:
    @pytest.mark.parametrize("page", ENTRY_PAGES)
    def test_others_get_the_unknown_id_page(self, client, alice, bob, page):
        e = entry(alice, value={"email": "hidden@example.org"}, is_public=False)
        client.force_login(bob)
        assert_like_unknown(
            client, entry_url(page, e.id), entry_url(page, uuid.uuid4()), "hidden@example.org"
        )

    @pytest.mark.parametrize("page", ["{}/edit/", "{}/visibility/", "{}/delete/"])
    def test_posting_a_change_is_404_and_changes_nothing(self, client, alice, bob, page):
        e = entry(alice, value={"email": "hidden@example.org"}, is_public=False)
        client.force_login(bob)
        form = {"expected_version": "0", "idempotency_key": str(uuid.uuid4()), "is_public": "on"}
        assert client.post(entry_url(page, e.id), form).status_code == 404
        assert userdata.get_entry(alice, e.id).version == 0

    def test_changing_a_visible_entry_of_another_is_still_403(self, client, alice, bob):
        e = entry(alice, is_public=True)
        client.force_login(bob)
        assert client.get(entry_url("{}/edit/", e.id)).status_code == 403


class TestAdminSiteForNonStaff:
    def test_a_signed_in_non_staff_user_gets_a_403_that_says_so(self, client, alice):
        client.force_login(alice)
        response = client.get("/admin/", follow=True)
        assert response.status_code == 403
        assert len(response.redirect_chain) == 1  # /admin/ -> /admin/login/, then the page
        assert "The admin site (/admin/) is for staff accounts only" in response.content.decode()

    def test_any_admin_page_too(self, client, alice):
        client.force_login(alice)
        response = client.get("/admin/kurrent/streamrecord/", follow=True)
        assert response.status_code == 403

    def test_staff_are_sent_on_into_the_admin(self, client):
        staff = _user("staffer", "admin", is_staff=True)
        client.force_login(staff)
        response = client.get("/admin/login/?next=/admin/kurrent/")
        assert (response.status_code, response["Location"]) == (302, "/admin/kurrent/")
        assert client.get("/admin/login/")["Location"] == "/admin/"
        assert client.get("/admin/").status_code == 200
