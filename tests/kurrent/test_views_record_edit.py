from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from kurrent.services import records
from tests.conftest import point_env_at
from tests.kurrent.viewtools import HX, closed_port_url, is_fragment, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]


def url(record_id):
    return f"/kurrent-db-demo/records/{record_id}/edit/"


def form(version, **changes):
    data = {
        "name": "Edited",
        "data": json.dumps({"count": 9}),
        "tags": "census",
        "expected_version": str(version),
        "idempotency_key": str(uuid.uuid4()),
    }
    data.update(changes)
    return data


class TestRecordEdit:
    def test_it_requires_login(self, client, alice):
        r = record(alice)
        assert client.get(url(r.id)).status_code == 302

    @pytest.mark.parametrize("who", ["carol", "bob"])
    def test_only_the_owner_or_an_admin_may_edit(self, client, alice, who, request):
        r = record(alice, is_public=True)
        client.force_login(request.getfixturevalue(who))
        assert client.get(url(r.id)).status_code == 403
        assert client.post(url(r.id), form(0)).status_code == 403
        assert records.get_record(alice, r.id).version == 0

    def test_unknown_records_are_404(self, client, alice):
        client.force_login(alice)
        assert client.get(url(uuid.uuid4())).status_code == 404

    def test_the_form_carries_the_version_seen(self, client, alice):
        r = record(alice, name="Census", data={"count": 1})
        records.update_record(alice, r.id, expected_version=0, name="Census 2")
        client.force_login(alice)
        response = client.get(url(r.id))
        assert response.status_code == 200
        body = response.content.decode()
        assert 'name="expected_version" value="1"' in body
        assert "Census 2" in body

    @pytest.mark.parametrize("who", ["alice", "admin_user"])
    def test_it_saves_and_redirects(self, client, alice, who, request):
        r = record(alice)
        client.force_login(request.getfixturevalue(who))
        response = client.post(url(r.id), form(0, is_public="on"))
        assert response.status_code == 302
        assert response["Location"] == f"/kurrent-db-demo/records/{r.id}/"
        saved = records.get_record(alice, r.id)
        assert (saved.name, saved.data, saved.is_public, saved.version) == (
            "Edited",
            {"count": 9},
            True,
            1,
        )

    def test_htmx_success_redirects_the_browser(self, client, alice):
        r = record(alice)
        client.force_login(alice)
        response = client.post(url(r.id), form(0), **HX)
        assert response.status_code == 200
        assert response["HX-Redirect"] == f"/kurrent-db-demo/records/{r.id}/"

    def test_a_conflict_shows_both_values_and_saves_nothing(self, client, alice, bob):
        r = record(alice, name="Original", data={"count": 1}, is_public=True)
        # Someone else (an admin acting for alice here: alice herself in another tab)
        # saves first.
        records.update_record(alice, r.id, expected_version=0, name="Theirs")
        client.force_login(alice)
        response = client.post(url(r.id), form(0, name="Mine"))
        assert response.status_code == 409
        body = response.content.decode()
        assert "Someone changed this record while you were editing it" in body
        assert "Changed meanwhile (v0 → v1)" in body
        assert "The same in both: tags." in body  # is_public differs: unticked here
        assert "<del>Original</del> → <ins>Theirs</ins>" in body
        conflict = response.context["conflict"]
        name_row = next(row for row in conflict["rows"] if row["field"] == "name")
        assert (name_row["current"], name_row["mine"], name_row["differs"]) == (
            "Theirs",
            "Mine",
            True,
        )
        # Nothing lost: the user's value is still in the form, now expecting version 1.
        assert 'value="Mine"' in body
        assert 'name="expected_version" value="1"' in body
        assert records.get_record(alice, r.id).name == "Theirs"

    def test_saving_again_after_a_conflict_is_a_deliberate_overwrite(self, client, alice):
        r = record(alice, name="Original")
        records.update_record(alice, r.id, expected_version=0, name="Theirs")
        client.force_login(alice)
        first = client.post(url(r.id), form(0, name="Mine"))
        retry = first.context["form"].data
        second = client.post(url(r.id), dict(retry.items()))
        assert second.status_code == 302
        assert records.get_record(alice, r.id).name == "Mine"

    def test_htmx_conflict_is_a_200_fragment(self, client, alice):
        r = record(alice)
        records.update_record(alice, r.id, expected_version=0, name="Theirs")
        client.force_login(alice)
        response = client.post(url(r.id), form(0), **HX)
        assert response.status_code == 200
        assert is_fragment(response)
        assert "Someone changed this record" in response.content.decode()

    def test_invalid_input_keeps_the_values(self, client, alice):
        r = record(alice)
        client.force_login(alice)
        response = client.post(url(r.id), form(0, data='{"broken": '))
        assert response.status_code == 400
        assert "This is not valid JSON" in response.content.decode()
        assert records.get_record(alice, r.id).version == 0

    def test_it_enforces_csrf(self, alice):
        r = record(alice)
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        assert client.post(url(r.id), form(0)).status_code == 403

    def test_kurrentdb_down_is_a_message_not_a_500(self, client, alice, settings):
        r = record(alice)
        settings.KURRENTDB_TIMEOUT_MS = 500
        point_env_at(settings, "dev", closed_port_url())
        client.force_login(alice)
        response = client.get(url(r.id))
        assert response.status_code == 200
        assert "<fieldset disabled>" in response.content.decode()
        response = client.post(url(r.id), form(0))
        assert response.status_code == 503
        assert "nothing can be saved" in response.content.decode()
