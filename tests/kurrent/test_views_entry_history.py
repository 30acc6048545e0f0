"""An entry's page: history, past versions, diffs and restore, as a record has them."""

from __future__ import annotations

import uuid

import pytest

from kurrent.services import userdata
from tests.kurrent.viewtools import HX, entry, is_fragment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]


def page(entry_id, rest=""):
    return f"/kurrent-db-demo/me/{entry_id}/{rest}"


def changed(owner):
    e = entry(owner, value={"email": "a@x.org", "phone": "1"})
    return userdata.update_entry(
        owner, e.id, expected_version=0, value={"email": "b@x.org", "phone": "1"}
    )


class TestEntryPage:
    def test_it_shows_the_value_and_the_history_newest_first(self, client, alice):
        e = changed(alice)
        client.force_login(alice)
        body = client.get(page(e.id)).content.decode()
        assert "profile · contact" in body and "b@x.org" in body
        assert body.index("UserDataUpdated") < body.index("UserDataStored")
        assert page(e.id, "v/0/") in body and f'action="{page(e.id, "diff/")}"' in body
        assert f"userdata-{alice.pk}-{e.id}" in body

    def test_my_data_links_each_entry_to_its_page(self, client, alice):
        e = entry(alice)
        client.force_login(alice)
        assert f'href="{page(e.id)}"' in client.get("/kurrent-db-demo/me/").content.decode()

    def test_a_past_version(self, client, alice):
        e = changed(alice)
        client.force_login(alice)
        body = client.get(page(e.id, "v/0/")).content.decode()
        assert "a@x.org" in body and "b@x.org" not in body
        assert "You are viewing an old version (0 of 1)" in body
        assert client.get(page(e.id, "v/9/")).status_code == 404

    def test_a_diff_page_and_its_fragment(self, client, alice):
        e = changed(alice)
        client.force_login(alice)
        full = client.get(page(e.id, "diff/"), {"from_version": 0, "to_version": 1})
        assert "a@x.org" in full.content.decode() and "b@x.org" in full.content.decode()
        fragment = client.get(page(e.id, "diff/"), {"from_version": 0, "to_version": 1}, **HX)
        assert is_fragment(fragment) and "diff-table" in fragment.content.decode()
        bad = client.get(page(e.id, "diff/"), {"from_version": 0, "to_version": 7})
        assert "This entry has versions 0 to 1." in bad.content.decode()

    def test_a_private_entry_is_a_404_to_others_and_a_public_one_is_readable(
        self, client, alice, bob
    ):
        private = entry(alice, category="secret")
        public = entry(alice, category="open", is_public=True)
        client.force_login(bob)
        for rest in ("", "v/0/", "diff/?from_version=0&to_version=0"):
            assert client.get(page(private.id, rest)).status_code == 404
            assert client.get(page(public.id, rest)).status_code == 200
        assert client.get(page(uuid.uuid4())).status_code == 404
        assert client.get(page("nope")).status_code == 404

    def test_it_requires_sign_in(self, client, alice):
        e = entry(alice)
        assert client.get(page(e.id))["Location"].startswith("/accounts/login/")


class TestEntryRestore:
    def test_a_deleted_entry_keeps_its_page_and_comes_back(self, client, alice):
        e = entry(alice)
        userdata.delete_entry(alice, e.id, expected_version=0)
        client.force_login(alice)
        body = client.get(page(e.id)).content.decode()
        assert "This entry was deleted." in body and "Restore this entry" in body

        form = {"expected_version": "1", "idempotency_key": str(uuid.uuid4())}
        response = client.post(page(e.id, "restore/"), form)

        assert response["Location"] == page(e.id)
        back = userdata.get_entry(alice, e.id)
        assert (back.version, back.deleted) == (2, False)
        history = [h.event_type for h in userdata.entry_history(alice, e.id)]
        assert history == ["UserDataStored", "UserDataDeleted", "UserDataRestored"]
        assert "UserDataRestored" in client.get(page(e.id)).content.decode()

    def test_others_may_not_restore(self, client, alice, bob, our_events):
        e = entry(alice, is_public=True)
        userdata.delete_entry(alice, e.id, expected_version=0)
        client.force_login(bob)
        assert "Restore this entry" not in client.get(page(e.id)).content.decode()
        form = {"expected_version": "1", "idempotency_key": str(uuid.uuid4())}
        assert client.post(page(e.id, "restore/"), form).status_code == 403
        assert len(our_events()) == 2
