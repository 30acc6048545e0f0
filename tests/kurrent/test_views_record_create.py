from __future__ import annotations

import json
import re
import uuid

import pytest
from django.test import Client

from kurrent.models import StreamRecord
from tests.conftest import point_env_at
from tests.kurrent.viewtools import HX, SCRIPT, closed_port_url, is_fragment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/records/new/"


def form(**changes):
    data = {
        "name": "Emperor census",
        "data": json.dumps({"count": 3}),
        "tags": "census, emperor",
        "idempotency_key": str(uuid.uuid4()),
    }
    data.update(changes)
    return data


class TestRecordCreate:
    def test_it_requires_login(self, client):
        response = client.post(URL, form())
        assert response.status_code == 302
        assert StreamRecord.objects.count() == 0

    def test_it_rejects_get(self, client, alice):
        client.force_login(alice)
        assert client.get(URL).status_code == 405

    def test_viewers_may_not_create(self, client, carol):
        client.force_login(carol)
        assert client.post(URL, form()).status_code == 403
        assert StreamRecord.objects.count() == 0

    @pytest.mark.parametrize("who", ["alice", "admin_user"])
    def test_it_creates_and_redirects_to_the_record(self, client, who, request):
        user = request.getfixturevalue(who)
        client.force_login(user)
        response = client.post(URL, form(is_public="on"))
        row = StreamRecord.objects.get()
        assert response.status_code == 302
        assert response["Location"] == f"/kurrent-db-demo/records/{row.record_id}/"
        assert row.name == "Emperor census"
        assert row.data == {"count": 3}
        assert row.tags == ["census", "emperor"]
        assert row.is_public is True
        assert row.owner_id == user.pk

    def test_htmx_gets_a_fresh_form_and_a_refresh_event(self, client, alice):
        client.force_login(alice)
        sent = form()
        response = client.post(URL, sent, **HX)
        assert response.status_code == 200
        assert is_fragment(response)
        assert json.loads(response["HX-Trigger"]) == {"records-changed": {}}
        body = response.content.decode()
        assert "Created <a href=" in body
        # A new key for the next record; the used one is not offered again.
        assert sent["idempotency_key"] not in body
        assert 'name="idempotency_key"' in body

    def test_a_resubmitted_form_creates_one_record(self, client, alice):
        client.force_login(alice)
        sent = form()
        first = client.post(URL, sent)
        second = client.post(URL, sent)
        assert first["Location"] == second["Location"]
        assert StreamRecord.objects.count() == 1

    def test_bad_json_is_a_field_error(self, client, alice):
        client.force_login(alice)
        response = client.post(URL, form(data="{not json"))
        assert response.status_code == 400
        assert "This is not valid JSON" in response.content.decode()
        assert StreamRecord.objects.count() == 0

    def test_a_json_array_is_refused(self, client, alice):
        client.force_login(alice)
        response = client.post(URL, form(data="[1, 2]"), **HX)
        assert response.status_code == 200  # htmx swaps 200 only
        assert "Enter a JSON object" in response.content.decode()

    def test_the_services_rules_show_on_the_field(self, client, alice):
        client.force_login(alice)
        response = client.post(URL, form(tags="Not A Tag!"), **HX)
        assert response.status_code == 200
        form_obj = response.context["create_form"]
        assert "tags" in form_obj.errors
        assert "is not a tag" in form_obj.errors["tags"][0]
        assert StreamRecord.objects.count() == 0

    def test_a_missing_name_is_refused(self, client, alice):
        client.force_login(alice)
        response = client.post(URL, form(name=""))
        assert response.status_code == 400
        assert StreamRecord.objects.count() == 0

    def test_it_keeps_script_payloads_as_text(self, client, alice):
        client.force_login(alice)
        response = client.post(URL, form(name=SCRIPT, data=json.dumps({"x": SCRIPT})))
        page = client.get(response["Location"]).content.decode()
        assert SCRIPT not in page
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page

    def test_it_enforces_csrf(self, alice):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        response = client.post(URL, form())
        assert response.status_code == 403
        assert StreamRecord.objects.count() == 0

    def test_it_accepts_the_csrf_header_htmx_sends(self, alice):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        page = client.get("/kurrent-db-demo/").content.decode()
        token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([A-Za-z0-9]{64})"\}\'', page).group(1)
        response = client.post(URL, form(), HTTP_X_CSRFTOKEN=token, **HX)
        assert response.status_code == 200
        assert StreamRecord.objects.count() == 1

    def test_kurrentdb_down_keeps_the_form_and_says_why(self, client, alice, settings):
        settings.KURRENTDB_TIMEOUT_MS = 500
        point_env_at(settings, "dev", closed_port_url())
        client.force_login(alice)
        sent = form()
        response = client.post(URL, sent)
        assert response.status_code == 503
        body = response.content.decode()
        assert "nothing was saved" in body or "nothing can be saved" in body
        # The same key is kept, so pressing the button again is safe.
        assert sent["idempotency_key"] in body
        assert StreamRecord.objects.count() == 0

    def test_the_dashboard_disables_the_form_when_kurrentdb_is_down(self, client, alice, settings):
        settings.KURRENTDB_TIMEOUT_MS = 500
        point_env_at(settings, "dev", closed_port_url())
        client.force_login(alice)
        response = client.get("/kurrent-db-demo/")
        assert response.status_code == 200
        body = response.content.decode()
        assert "KurrentDB (dev) is unreachable." in body  # the banner
        assert "unreachable right now, so nothing can be saved" in body
        assert "<fieldset disabled>" in body
