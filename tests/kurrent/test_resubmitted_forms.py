"""An idempotency key is bound to what was submitted (issue 12, point 2).

The same key with the same content replays the first answer and appends nothing. The
same key with other content (the user went Back, changed the form, sent it again):

- creates (records, entries): "already submitted": 409 (htmx too), what the first one
  saved is shown, what was typed is kept under a new key, nothing is appended;
- edits, entry edits, visibility changes: applied as a new change against the version
  stored now, when the newest event is the one this form saved (the user saw that saved
  page); anyone else's change in between is the usual conflict;
- deletes: sent again, the answer is the first one's (deleted), nothing appended.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from kurrent.core.events import record_stream, userdata_stream
from kurrent.services import records, userdata
from tests.kurrent.viewtools import HX

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]

DASH = "/kurrent-db-demo"


@pytest.fixture
def events_of(raw_client: Any):
    def count(stream: str) -> int:
        return len(raw_client.get_stream(stream))

    return count


def record_form(key: str, name: str, **extra: str) -> dict[str, str]:
    return {"name": name, "data": '{"n": 1}', "tags": "", "idempotency_key": key, **extra}


def only_record(alice: Any) -> Any:
    page = records.list_records(alice)
    assert page.total == 1
    return page.items[0]


class TestRecordCreate:
    def test_the_same_content_again_replays_the_first_answer(self, client, alice, events_of):
        client.force_login(alice)
        key = str(uuid.uuid4())
        first = client.post(f"{DASH}/records/new/", record_form(key, "Census A"))
        again = client.post(f"{DASH}/records/new/", record_form(key, "Census A"))
        assert first.status_code == again.status_code == 302
        assert first["Location"] == again["Location"]
        assert events_of(record_stream(only_record(alice).id)) == 1

    @pytest.mark.parametrize("htmx", [False, True])
    def test_other_content_is_already_submitted_and_kept(self, client, alice, events_of, htmx):
        client.force_login(alice)
        key = str(uuid.uuid4())
        assert client.post(f"{DASH}/records/new/", record_form(key, "Census A")).status_code == 302
        saved = only_record(alice)
        response = client.post(
            f"{DASH}/records/new/", record_form(key, "Census B"), **(HX if htmx else {})
        )
        assert response.status_code == 409
        body = response.content.decode()
        assert "Already submitted" in body
        assert f'href="/kurrent-db-demo/records/{saved.id}/"' in body and "Census A" in body
        assert 'value="Census B"' in body  # what was typed is kept
        keys = re.findall(r'name="idempotency_key" value="([^"]+)"', body)
        assert keys and key not in keys  # under a new key: sending it again is deliberate
        assert events_of(record_stream(saved.id)) == 1
        assert only_record(alice).name == "Census A"


class TestRecordEdit:
    def edit(self, client, record_id, key, name, expected="0"):
        form = record_form(key, name, expected_version=expected)
        return client.post(f"{DASH}/records/{record_id}/edit/", form)

    def test_other_content_is_applied_as_a_new_change(self, client, alice, events_of):
        record = records.create_record(alice, name="Census", data={"n": 1}, is_public=True)
        client.force_login(alice)
        key = str(uuid.uuid4())
        assert self.edit(client, record.id, key, "First").status_code == 302
        assert self.edit(client, record.id, key, "Second").status_code == 302
        now = records.get_record(alice, record.id)
        assert (now.name, now.version) == ("Second", 2)
        assert self.edit(client, record.id, key, "Second").status_code == 302  # replayed
        assert events_of(record_stream(record.id)) == 3

    def test_someone_elses_change_in_between_is_a_conflict(self, client, alice, admin_user):
        record = records.create_record(alice, name="Census", data={"n": 1}, is_public=True)
        client.force_login(alice)
        key = str(uuid.uuid4())
        assert self.edit(client, record.id, key, "First").status_code == 302
        records.update_record(admin_user, record.id, expected_version=1, name="Admin's")
        response = self.edit(client, record.id, key, "Second")
        assert response.status_code == 409
        assert records.get_record(alice, record.id).name == "Admin's"


class TestEntries:
    def store_form(self, key: str, value: str) -> dict[str, str]:
        return {
            "entry_type": "profile",
            "category": "contact",
            "value": value,
            "tags": "",
            "idempotency_key": key,
        }

    @pytest.mark.parametrize("htmx", [False, True])
    def test_a_store_sent_again_with_other_content_is_already_submitted(
        self, client, alice, events_of, htmx
    ):
        client.force_login(alice)
        key = str(uuid.uuid4())
        first = client.post(f"{DASH}/me/new/", self.store_form(key, '{"a": 1}'))
        assert first.status_code == 302
        (entry,) = userdata.list_entries(alice)["profile"]
        response = client.post(
            f"{DASH}/me/new/", self.store_form(key, '{"a": 2}'), **(HX if htmx else {})
        )
        assert response.status_code == 409
        body = response.content.decode()
        assert "Already submitted" in body
        assert "{&quot;a&quot;: 2}" in body  # kept as typed
        assert events_of(userdata_stream(alice.pk, entry.id)) == 1
        assert userdata.get_entry(alice, entry.id).value == {"a": 1}
        again = client.post(f"{DASH}/me/new/", self.store_form(key, '{"a": 1}'))
        assert again.status_code == 302  # the same content: the first answer again
        assert events_of(userdata_stream(alice.pk, entry.id)) == 1

    def test_an_entry_edit_sent_again_with_other_content_is_applied(self, client, alice, events_of):
        entry = userdata.store_entry(alice, entry_type="profile", category="c", value={"a": 1})
        client.force_login(alice)
        key = str(uuid.uuid4())
        for value in ('{"a": 2}', '{"a": 3}', '{"a": 3}'):
            form = {
                "category": "c",
                "value": value,
                "tags": "",
                "expected_version": "0",
                "idempotency_key": key,
            }
            assert client.post(f"{DASH}/me/{entry.id}/edit/", form).status_code == 302
        now = userdata.get_entry(alice, entry.id)
        assert (now.value, now.version) == ({"a": 3}, 2)
        assert events_of(userdata_stream(alice.pk, entry.id)) == 3

    def test_a_visibility_change_sent_again_replays_or_applies(self, client, alice, events_of):
        entry = userdata.store_entry(alice, entry_type="profile", category="c", value={"a": 1})
        client.force_login(alice)
        key = str(uuid.uuid4())
        url = f"{DASH}/me/{entry.id}/visibility/"
        public = {"expected_version": "0", "is_public": "on", "idempotency_key": key}
        assert client.post(url, public).status_code == 302
        assert client.post(url, public).status_code == 302
        assert events_of(userdata_stream(alice.pk, entry.id)) == 2  # once
        assert userdata.get_entry(alice, entry.id).is_public is True
        private = {"expected_version": "0", "idempotency_key": key}
        assert client.post(url, private).status_code == 302
        now = userdata.get_entry(alice, entry.id)
        assert (now.is_public, now.version) == (False, 2)

    def test_the_entry_card_carries_a_key(self, client, alice):
        userdata.store_entry(alice, entry_type="profile", category="c", value={"a": 1})
        client.force_login(alice)
        body = client.get(f"{DASH}/me/").content.decode()
        form = body[body.index('action="/kurrent-db-demo/me/') :]
        form = form[: form.index("</form>")]
        key = re.search(r'name="idempotency_key" value="([^"]+)"', form)
        assert key is not None and uuid.UUID(key.group(1))


def test_a_delete_sent_again_is_answered_as_the_first(client, alice, events_of):
    record = records.create_record(alice, name="Census", data={}, is_public=True)
    client.force_login(alice)
    form = {"expected_version": "0", "idempotency_key": str(uuid.uuid4())}
    url = f"{DASH}/records/{record.id}/delete/"
    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302
    assert events_of(record_stream(record.id)) == 2
