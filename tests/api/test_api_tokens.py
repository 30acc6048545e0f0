"""API tokens: the page where users make and revoke their own (admins: anyone's), how
they are kept (hashed, shown once), bearer authentication with scopes and expiry, the
session with CSRF for same-origin scripts, and the rate limit per token."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.test import Client
from django.utils import timezone

from kurrent.api import tokens
from kurrent.api.models import SCOPE_READ, ApiToken
from tests.api.conftest import Api
from tests.kurrent.viewtools import record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]

PAGE = "/kurrent-db-demo/tokens/"
BASE = "/api/v1/records"


def make_on_page(client, **fields):
    data = {"name": "script", "scope": "read-write", "expires": "", **fields}
    return client.post(PAGE, data)


def secret_on(response) -> str:
    body = response.content.decode()
    start = body.index("data-new-token>") + len("data-new-token>")
    return body[start : body.index("<", start)]


class TestTokensPage:
    def test_it_requires_login(self, client):
        assert client.get(PAGE).status_code == 302
        assert client.post(PAGE, {"name": "x", "scope": "read"}).status_code == 302

    @pytest.mark.parametrize("who", ["alice", "carol", "admin_user"])
    def test_anyone_signed_in_makes_a_token_shown_once_and_stored_hashed(self, who, request):
        user = request.getfixturevalue(who)
        client = Client()
        client.force_login(user)
        made = make_on_page(client, name="nightly export", scope="read")
        assert made.status_code == 200
        secret = secret_on(made)
        assert secret.startswith("ppk_") and len(secret) > 40
        token = ApiToken.objects.get(user=user)
        assert token.name == "nightly export" and token.scope == SCOPE_READ
        assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in str(list(ApiToken.objects.values()))
        # Never again: the list shows only its first characters.
        again = client.get(PAGE).content.decode()
        assert "nightly export" in again and secret not in again
        assert f"ppk_{token.hint}" in again
        assert Api(secret).get("/api/v1/me").json()["username"] == user.username

    def test_a_bad_form_names_the_field_and_makes_nothing(self, alice, client):
        client.force_login(alice)
        for fields in ({"name": ""}, {"scope": "admin"}, {"expires": "2001-01-01"}):
            r = make_on_page(client, **fields)
            assert r.status_code == 400, fields
            assert "data-new-token" not in r.content.decode()
        assert not ApiToken.objects.exists()

    def test_users_revoke_their_own_but_not_others(self, alice, bob, client):
        mine = tokens.create_token(alice, name="mine")
        theirs = tokens.create_token(bob, name="theirs")
        client.force_login(alice)
        assert client.post(f"{PAGE}{theirs.token.pk}/revoke/").status_code == 302
        assert Api(theirs.secret).get("/api/v1/me").status_code == 200
        assert "theirs" not in client.get(PAGE).content.decode()
        client.post(f"{PAGE}{mine.token.pk}/revoke/")
        assert Api(mine.secret).get("/api/v1/me").status_code == 401

    def test_admins_see_revoke_and_make_tokens_for_anyone(self, alice, admin_user, client):
        theirs = tokens.create_token(alice, name="alice's")
        client.force_login(admin_user)
        page = client.get(PAGE).content.decode()
        assert "alice&#x27;s" in page or "alice's" in page
        made = make_on_page(client, name="for alice", owner="alice", scope="read")
        assert made.status_code == 200
        assert Api(secret_on(made)).get("/api/v1/me").json()["username"] == "alice"
        client.post(f"{PAGE}{theirs.token.pk}/revoke/")
        assert Api(theirs.secret).get("/api/v1/me").status_code == 401
        assert make_on_page(client, owner="nobody").status_code == 400

    def test_editors_cannot_make_tokens_for_others(self, alice, bob, client):
        client.force_login(alice)
        made = make_on_page(client, owner="bob")
        assert made.status_code == 200
        assert ApiToken.objects.get().user == alice  # the owner field is not theirs to set


class TestBearer:
    def test_a_read_token_reads_but_may_not_write(self, alice, api_as, our_events):
        api = api_as(alice, SCOPE_READ)
        assert api.get(BASE).status_code == 200
        refused = api.post(BASE, {"name": "No"})
        assert refused.status_code == 403 and "scope" in refused.json()["detail"]
        assert our_events() == []

    def test_an_expired_or_revoked_or_unknown_token_is_a_401(self, alice):
        expired = tokens.create_token(alice, name="old", expires_at=timezone.now() + timedelta(1))
        ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now())
        revoked = tokens.create_token(alice, name="gone")
        tokens.revoke_token(alice, revoked.token.pk)
        for secret in (expired.secret, revoked.secret, "ppk_" + "x" * 43, "nonsense"):
            r = Api(secret).get(BASE)
            assert r.status_code == 401, secret
            assert r["WWW-Authenticate"].startswith("Bearer")

    def test_an_inactive_users_token_is_a_401(self, alice):
        made = tokens.create_token(alice, name="t")
        alice.is_active = False
        alice.save()
        assert Api(made.secret).get(BASE).status_code == 401

    def test_basic_auth_is_refused(self, alice):
        client = Client()
        r = client.get(BASE, headers={"Authorization": "Basic YWxpY2U6cHc="})
        assert r.status_code == 401

    def test_last_use_is_recorded(self, alice):
        made = tokens.create_token(alice, name="t")
        assert made.token.last_used_at is None
        Api(made.secret).get(BASE)
        made.token.refresh_from_db()
        assert made.token.last_used_at is not None

    def test_a_token_acts_with_its_users_role(self, carol, api_as, our_events):
        assert api_as(carol).post(BASE, {"name": "No"}).status_code == 403
        assert our_events() == []


class TestSession:
    def test_same_origin_scripts_use_the_session_with_csrf(self, alice, our_events):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        assert client.get(BASE).status_code == 200
        page = client.get("/kurrent-db-demo/")  # sets the CSRF cookie
        assert page.status_code == 200
        without = client.post(BASE, {"name": "x"}, content_type="application/json")
        assert without.status_code == 403 and without.json()["type"].endswith("csrf-failed")
        assert our_events() == []
        token = client.cookies["csrftoken"].value
        with_token = client.post(
            BASE, {"name": "x"}, content_type="application/json", headers={"X-CSRFToken": token}
        )
        assert with_token.status_code == 201, with_token.content
        assert len(our_events()) == 1


class TestRateLimit:
    @pytest.fixture(autouse=True)
    def _fresh_counts(self, settings):
        settings.API_RATE_LIMIT = "3/min"
        caches["default"].clear()
        yield
        caches["default"].clear()

    def test_each_token_has_its_own_limit_with_retry_after(self, alice, api_as):
        first, second = api_as(alice), api_as(alice)
        assert [first.get(BASE).status_code for _ in range(3)] == [200, 200, 200]
        limited = first.get(BASE)
        assert limited.status_code == 429
        assert 1 <= int(limited["Retry-After"]) <= 60
        assert limited["Content-Type"] == "application/problem+json"
        assert second.get(BASE).status_code == 200

    def test_a_limited_write_appends_nothing(self, alice, api_as, our_events):
        api = api_as(alice)
        record(alice)
        for _ in range(3):
            api.get(BASE)
        assert api.post(BASE, {"name": "Over"}).status_code == 429
        assert len(our_events()) == 1
