"""The backend reuses a signed-in user for a moment, but never past a change."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts import backends
from kurrent.services import roles

pytestmark = pytest.mark.django_db


def test_it_reuses_the_user_without_queries(alice, django_assert_num_queries):
    backend = backends.CachedModelBackend()
    first = backend.get_user(alice.pk)
    assert roles.can_write(first)
    with django_assert_num_queries(0):
        again = backend.get_user(alice.pk)
        assert roles.can_write(again)
    assert again is not first  # a copy per request


def test_a_group_change_is_seen_at_once(carol):
    backend = backends.CachedModelBackend()
    assert not roles.can_write(backend.get_user(carol.pk))
    carol.groups.add(Group.objects.get(name=roles.EDITOR))
    assert roles.can_write(backend.get_user(carol.pk))
    Group.objects.get(name=roles.EDITOR).user_set.remove(carol)
    assert not roles.can_write(backend.get_user(carol.pk))


def test_a_deactivated_user_is_signed_out_at_once(client, alice):
    client.force_login(alice)
    dashboard = reverse("kurrent-dashboard")
    client.get(reverse("kurrent-status"))  # fills the cache
    alice.is_active = False
    alice.save()
    response = client.get(dashboard)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_it_expires(alice, monkeypatch, django_assert_num_queries):
    backend = backends.CachedModelBackend()
    backend.get_user(alice.pk)
    monkeypatch.setattr(backends, "USER_CACHE_SECONDS", 0.0)
    with django_assert_num_queries(2):  # the user, then its role names
        backend.get_user(alice.pk)
