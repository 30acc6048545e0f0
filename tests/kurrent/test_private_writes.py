"""A write refused because the item is someone else's private one is "not found"
(Private, a 404), not a 403 form error: its existence is not revealed by a write either.
A visible item the actor may not change stays Forbidden (403)."""

from __future__ import annotations

import uuid

import pytest
from django import forms
from django.http import Http404

from kurrent.core.errors import Forbidden, Private
from kurrent.services import records, userdata
from kurrent.web.outcomes import FORBIDDEN, submit
from tests.kurrent.viewtools import entry, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]


class _Confirm(forms.Form):
    ok = forms.BooleanField(required=False)


def test_changing_someone_elses_private_record_is_private(alice, bob):
    secret = record(alice, is_public=False)
    with pytest.raises(Private):
        records.update_record(bob, secret.id, expected_version=0, name="Mine now")
    with pytest.raises(Private):
        records.delete_record(bob, secret.id, expected_version=0)


def test_changing_someone_elses_private_entry_is_private(alice, bob):
    secret = entry(alice, is_public=False)
    with pytest.raises(Private):
        userdata.update_entry(bob, secret.id, expected_version=0, is_public=True)
    with pytest.raises(Private):
        userdata.delete_entry(bob, secret.id, expected_version=0)


def test_a_visible_item_stays_forbidden(alice, bob):
    shown = record(alice, is_public=True)
    with pytest.raises(Forbidden) as raised:
        records.update_record(bob, shown.id, expected_version=0, name="Mine now")
    assert not isinstance(raised.value, Private)


def test_a_form_refused_as_private_is_a_404_not_a_form_error(alice, bob):
    secret = record(alice, is_public=False)
    form = _Confirm({"ok": "on"})

    def write(data):
        return records.update_record(
            bob, secret.id, expected_version=0, name="x", idempotency_key=str(uuid.uuid4())
        )

    with pytest.raises(Http404):
        submit(form, write, env="dev")
    assert not form.errors


def test_a_form_refused_as_not_the_owner_is_a_403_form_error(alice, bob):
    shown = record(alice, is_public=True)
    form = _Confirm({"ok": "on"})
    outcome = submit(
        form,
        lambda data: records.update_record(bob, shown.id, expected_version=0, name="x"),
        env="dev",
    )
    assert outcome.status == FORBIDDEN
    assert "Only the owner" in " ".join(form.non_field_errors())
