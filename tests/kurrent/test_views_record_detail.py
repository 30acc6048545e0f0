from __future__ import annotations

import uuid

import pytest

from kurrent.services import records
from tests.conftest import point_env_at
from tests.kurrent.viewtools import SCRIPT, closed_port_url, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]


def url(record_id):
    return f"/kurrent-db-demo/records/{record_id}/"


class TestRecordDetail:
    def test_it_requires_login(self, client, alice):
        r = record(alice, is_public=True)
        assert client.get(url(r.id)).status_code == 302

    @pytest.mark.parametrize("who", ["carol", "bob", "alice", "admin_user"])
    def test_a_public_record_is_readable_by_everyone(self, client, alice, who, request):
        r = record(alice, name="Public census", is_public=True)
        client.force_login(request.getfixturevalue(who))
        response = client.get(url(r.id))
        assert response.status_code == 200
        assert "Public census" in response.content.decode()

    @pytest.mark.parametrize("who, status", [("carol", 404), ("bob", 404), ("admin_user", 200)])
    def test_a_private_record_is_for_its_owner_and_admins(
        self, client, alice, who, status, request
    ):
        r = record(alice, name="Secret census")
        client.force_login(request.getfixturevalue(who))
        response = client.get(url(r.id))
        assert response.status_code == status
        if status == 404:  # as for an unknown id: its existence is not revealed
            assert "Secret census" not in response.content.decode()
            assert "<h1>Not found</h1>" in response.content.decode()

    def test_unknown_ids_are_404(self, client, alice):
        client.force_login(alice)
        response = client.get(url(uuid.uuid4()))
        assert response.status_code == 404
        assert "Not found" in response.content.decode()

    def test_malformed_ids_are_404(self, client, alice):
        client.force_login(alice)
        assert client.get(url("not-a-uuid")).status_code == 404

    def test_it_shows_data_tags_owner_version_and_copy_buttons(self, client, alice):
        r = record(alice, data={"species": "emperor", "count": 3}, tags=["census", "rare"])
        client.force_login(alice)
        body = client.get(url(r.id)).content.decode()
        assert "&quot;species&quot;: &quot;emperor&quot;" in body  # pretty JSON
        assert "{&quot;species&quot;:&quot;emperor&quot;,&quot;count&quot;:3}" in body  # raw
        assert 'data-copy-target="#record-json"' in body
        assert f'data-copy-text="{r.id}"' in body
        assert ">census</a>" in body and ">rare</a>" in body
        assert "owned by alice" in body
        assert "version 0" in body

    def test_raw_format_is_chosen_by_the_url_without_js(self, client, alice):
        r = record(alice)
        client.force_login(alice)
        body = client.get(url(r.id), {"format": "raw"}).content.decode()
        assert (
            'data-json-view="pretty" tabindex="0" aria-label="Record data, formatted" hidden'
            in body
        )
        assert (
            'data-json-view="raw" tabindex="0" aria-label="Record data, raw" class="json-raw" >'
            in body
        )

    def test_it_shows_the_history_newest_first(self, client, alice):
        r = record(alice, name="Before")
        records.update_record(alice, r.id, expected_version=0, name="After")
        client.force_login(alice)
        response = client.get(url(r.id))
        history = response.context["history"]
        assert [h.version for h in history] == [1, 0]
        body = response.content.decode()
        assert "StreamUpdated" in body and "StreamCreated" in body
        assert "<del>Before</del>" in body and "<ins>After</ins>" in body
        assert f'href="/kurrent-db-demo/records/{r.id}/v/0/"' in body

    def test_edit_and_delete_are_offered_to_those_who_may_use_them(
        self, client, alice, bob, admin_user
    ):
        r = record(alice, is_public=True)
        edit = f"/kurrent-db-demo/records/{r.id}/edit/"
        for user, shown in ((alice, True), (admin_user, True), (bob, False)):
            client.force_login(user)
            assert (edit in client.get(url(r.id)).content.decode()) is shown

    def test_it_escapes_script_in_name_data_and_tags(self, client, alice):
        r = record(alice, name=SCRIPT, data={SCRIPT: SCRIPT}, metadata={"note": SCRIPT})
        client.force_login(alice)
        body = client.get(url(r.id)).content.decode()
        assert "<script>alert" not in body
        assert body.count("&lt;script&gt;") >= 3

    def test_a_deleted_record_keeps_a_read_only_page_with_its_history(self, client, alice):
        r = record(alice, name="Gone")
        records.delete_record(alice, r.id, expected_version=0)
        client.force_login(alice)
        response = client.get(url(r.id))
        assert response.status_code == 200
        body = response.content.decode()
        assert "This record was deleted." in body
        assert f"/kurrent-db-demo/records/{r.id}/edit/" not in body
        assert [h.event_type for h in response.context["history"]] == [
            "StreamDeleted",
            "StreamCreated",
        ]

    def test_a_deleted_private_record_stays_private(self, client, alice, bob):
        r = record(alice)
        records.delete_record(alice, r.id, expected_version=0)
        client.force_login(bob)
        assert client.get(url(r.id)).status_code == 404

    def test_kurrentdb_down_still_renders_the_page(self, client, alice, settings):
        r = record(alice, name="Still readable")
        settings.KURRENTDB_TIMEOUT_MS = 500
        point_env_at(settings, "dev", closed_port_url())
        client.force_login(alice)
        response = client.get(url(r.id))
        assert response.status_code == 200
        body = response.content.decode()
        assert "Still readable" in body  # from the read model
        assert "is unreachable" in body  # the banner, and the history's message
        assert response.context["history"] is None
