"""Restoring a deleted record from its page (issue 14, point 6): an event in its history."""

from __future__ import annotations

import uuid

import pytest

from kurrent.core.errors import NotFound
from kurrent.services import records
from tests.kurrent.viewtools import HX, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]


def url(record_id):
    return f"/kurrent-db-demo/records/{record_id}/restore/"


def form(version, key=None):
    return {"expected_version": str(version), "idempotency_key": key or str(uuid.uuid4())}


def deleted(owner, **fields):
    r = record(owner, **fields)
    records.delete_record(owner, r.id, expected_version=0)
    return r


class TestRecordRestore:
    def test_the_deleted_records_page_offers_restore_to_its_owner(self, client, alice):
        r = deleted(alice, name="Lost census")
        client.force_login(alice)
        body = client.get(f"/kurrent-db-demo/records/{r.id}/").content.decode()
        assert "This record was deleted." in body
        assert f'action="{url(r.id)}"' in body and "Restore this record" in body
        assert 'name="expected_version" value="1"' in body

    @pytest.mark.parametrize("who", ["alice", "admin_user"])
    def test_owner_or_admin_restores_it_with_an_event_in_its_history(
        self, client, alice, who, request
    ):
        r = deleted(alice, name="Lost census", is_public=True)
        client.force_login(request.getfixturevalue(who))

        response = client.post(url(r.id), form(1))

        assert (
            response.status_code == 302
            and response["Location"] == f"/kurrent-db-demo/records/{r.id}/"
        )
        back = records.get_record(alice, r.id)
        assert (back.version, back.deleted, back.name) == (2, False, "Lost census")
        history = records.record_history(alice, r.id)
        assert [h.event_type for h in history] == [
            "StreamCreated",
            "StreamDeleted",
            "StreamRestored",
        ]
        assert history[-1].changes == {"deleted": {"old": True, "new": False}}
        page = client.get(f"/kurrent-db-demo/records/{r.id}/").content.decode()
        assert "StreamRestored" in page and "This record was deleted." not in page
        assert r.id in client.get("/kurrent-db-demo/").content.decode()  # listed again

    def test_a_resubmitted_restore_appends_once(self, client, alice, our_events):
        r = deleted(alice)
        client.force_login(alice)
        key = str(uuid.uuid4())
        client.post(url(r.id), form(1, key))
        client.post(url(r.id), form(1, key))
        assert len(our_events()) == 3

    def test_htmx_restore_redirects_the_browser(self, client, alice):
        r = deleted(alice)
        client.force_login(alice)
        response = client.post(url(r.id), form(1), **HX)
        assert response["HX-Redirect"] == f"/kurrent-db-demo/records/{r.id}/"

    @pytest.mark.parametrize("who", ["bob", "carol"])
    def test_others_may_not_restore_a_public_one(self, client, alice, who, request, our_events):
        r = deleted(alice, is_public=True)
        client.force_login(request.getfixturevalue(who))
        page = client.get(f"/kurrent-db-demo/records/{r.id}/").content.decode()
        assert "Restore this record" not in page
        assert client.post(url(r.id), form(1)).status_code == 403
        assert len(our_events()) == 2
        with pytest.raises(NotFound):
            records.get_record(alice, r.id)

    def test_a_private_one_is_a_404_to_others(self, client, alice, bob):
        r = deleted(alice)
        client.force_login(bob)
        assert client.post(url(r.id), form(1)).status_code == 404

    def test_it_requires_sign_in_and_post(self, client, alice):
        r = deleted(alice)
        assert client.post(url(r.id), form(1))["Location"].startswith("/accounts/login/")
        client.force_login(alice)
        assert client.get(url(r.id)).status_code == 405

    def test_a_stale_version_restores_nothing(self, client, alice, our_events):
        r = deleted(alice)
        client.force_login(alice)
        response = client.post(url(r.id), form(0), follow=True)
        assert "changed meanwhile" in response.content.decode()
        assert len(our_events()) == 2

    def test_a_live_record_is_not_restored(self, client, alice, our_events):
        r = record(alice)
        client.force_login(alice)
        response = client.post(url(r.id), form(0), follow=True)
        assert "this record is not deleted" in response.content.decode()
        assert len(our_events()) == 1

    def test_bad_input_is_a_message_not_a_500(self, client, alice, our_events):
        r = deleted(alice)
        client.force_login(alice)
        response = client.post(url(r.id), {"expected_version": "x"}, follow=True)
        assert response.status_code == 200
        assert len(our_events()) == 2


class TestRestoreService:
    def test_only_owner_or_admin(self, alice, bob, admin_user):
        from kurrent.core.errors import Forbidden, ValidationError

        r = deleted(alice, is_public=True)
        with pytest.raises(Forbidden):
            records.restore_record(bob, r.id)
        back = records.restore_record(admin_user, r.id)
        assert not back.deleted and back.version == 2
        with pytest.raises(ValidationError) as info:
            records.restore_record(alice, r.id)
        assert info.value.field == "deleted"
