from __future__ import annotations

import pytest

from kurrent.services import records
from tests.kurrent.viewtools import record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]


def url(record_id, version):
    return f"/kurrent-db-demo/records/{record_id}/v/{version}/"


class TestRecordVersion:
    def test_it_shows_a_past_version(self, client, alice):
        r = record(alice, name="First name", data={"count": 1})
        records.update_record(
            alice, r.id, expected_version=0, name="Second name", data={"count": 2}
        )
        client.force_login(alice)
        response = client.get(url(r.id, 0))
        assert response.status_code == 200
        body = response.content.decode()
        assert "First name" in body
        assert "&quot;count&quot;: 1" in body
        assert "You are viewing an old version (0 of 1)" in body
        assert "?from_version=0&amp;to_version=1" in body

    def test_versions_past_the_end_are_404(self, client, alice):
        r = record(alice)
        client.force_login(alice)
        assert client.get(url(r.id, 5)).status_code == 404

    def test_it_follows_the_records_access_rules(self, client, alice, bob):
        r = record(alice)
        client.force_login(bob)
        assert client.get(url(r.id, 0)).status_code == 404

    def test_it_requires_login(self, client, alice):
        r = record(alice, is_public=True)
        assert client.get(url(r.id, 0)).status_code == 302
