from __future__ import annotations

import pytest

from kurrent.services import records
from tests.kurrent.viewtools import HX, is_fragment, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]


def url(record_id):
    return f"/kurrent-db-demo/records/{record_id}/diff/"


@pytest.fixture
def changed(alice):
    r = record(alice, name="Census", data={"count": 1, "site": "Halley"}, is_public=True)
    records.update_record(alice, r.id, expected_version=0, data={"count": 2, "site": "Halley"})
    return r


class TestRecordDiff:
    def test_it_shows_changed_lines(self, client, alice, changed):
        client.force_login(alice)
        response = client.get(url(changed.id), {"from_version": 0, "to_version": 1})
        assert response.status_code == 200
        body = response.content.decode()
        assert '<span class="diff-del">-   &quot;count&quot;: 1,</span>' in body
        assert '<span class="diff-add">+   &quot;count&quot;: 2,</span>' in body
        assert "v0 → v1" in body

    def test_htmx_gets_the_table_only(self, client, carol, changed):
        client.force_login(carol)
        response = client.get(url(changed.id), {"from_version": 0, "to_version": 1}, **HX)
        assert is_fragment(response)
        assert response.content.decode().lstrip().startswith('<div id="diff-table"')

    def test_identical_versions_say_so(self, client, alice, changed):
        client.force_login(alice)
        body = client.get(url(changed.id), {"from_version": 1, "to_version": 1}).content.decode()
        assert "No differences between v1 and v1" in body

    def test_versions_out_of_range_are_explained(self, client, alice, changed):
        client.force_login(alice)
        body = client.get(url(changed.id), {"from_version": 0, "to_version": 9}).content.decode()
        assert "This record has versions 0 to 1." in body

    def test_missing_versions_are_explained(self, client, alice, changed):
        client.force_login(alice)
        body = client.get(url(changed.id)).content.decode()
        assert "Choose two versions to compare." in body

    def test_private_records_are_404_for_others(self, client, alice, bob):
        r = record(alice)
        client.force_login(bob)
        assert client.get(url(r.id), {"from_version": 0, "to_version": 0}).status_code == 404
