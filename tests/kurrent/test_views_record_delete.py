from __future__ import annotations

import uuid

import pytest

from kurrent.core.errors import NotFound
from kurrent.services import records
from tests.kurrent.viewtools import HX, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]


def url(record_id):
    return f"/kurrent-db-demo/records/{record_id}/delete/"


def form(version):
    return {"expected_version": str(version), "idempotency_key": str(uuid.uuid4())}


class TestRecordDelete:
    def test_it_asks_for_confirmation(self, client, alice):
        r = record(alice, name="Doomed")
        client.force_login(alice)
        response = client.get(url(r.id))
        assert response.status_code == 200
        body = response.content.decode()
        assert "Delete “Doomed”?" in body
        assert 'name="expected_version" value="0"' in body
        assert records.get_record(alice, r.id)  # still there

    @pytest.mark.parametrize("who", ["alice", "admin_user"])
    def test_it_deletes_and_goes_back_to_the_dashboard(self, client, alice, who, request):
        r = record(alice, name="Doomed")
        client.force_login(request.getfixturevalue(who))
        response = client.post(url(r.id), form(0))
        assert response.status_code == 302 and response["Location"] == "/kurrent-db-demo/"
        with pytest.raises(NotFound):
            records.get_record(alice, r.id)
        # The history stays.
        assert [h.event_type for h in records.record_history(alice, r.id)][-1] == "StreamDeleted"
        assert "Its history is kept" in client.get("/kurrent-db-demo/").content.decode()

    def test_htmx_delete_redirects_the_browser(self, client, alice):
        r = record(alice)
        client.force_login(alice)
        response = client.post(url(r.id), form(0), **HX)
        assert response["HX-Redirect"] == "/kurrent-db-demo/"

    @pytest.mark.parametrize("who", ["carol", "bob"])
    def test_others_may_not_delete(self, client, alice, who, request):
        r = record(alice, is_public=True)
        client.force_login(request.getfixturevalue(who))
        assert client.get(url(r.id)).status_code == 403
        assert client.post(url(r.id), form(0)).status_code == 403
        assert records.get_record(alice, r.id)

    def test_a_record_changed_meanwhile_asks_again(self, client, alice):
        r = record(alice)
        records.update_record(alice, r.id, expected_version=0, name="Changed")
        client.force_login(alice)
        response = client.post(url(r.id), form(0))
        assert response.status_code == 409
        body = response.content.decode()
        assert "The record changed since you opened this page" in body
        assert 'name="expected_version" value="1"' in body
        assert records.get_record(alice, r.id).name == "Changed"

    def test_unknown_records_are_404(self, client, alice):
        client.force_login(alice)
        assert client.post(url(uuid.uuid4()), form(0)).status_code == 404
