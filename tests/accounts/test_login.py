from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts import throttle
from accounts.models import LoginThrottle
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/accounts/login/"


WRONG = "not-the-password"


def attempt(client, username="alice", password=WRONG, ip="10.0.0.1", **extra):
    return client.post(URL, {"username": username, "password": password, **extra}, REMOTE_ADDR=ip)


class TestLogin:
    def test_it_shows_the_form(self, client):
        response = client.get(URL)
        assert response.status_code == 200
        body = response.content.decode()
        assert 'autocomplete="current-password"' in body
        assert '<label for="id_username">Username</label>' in body

    def test_it_signs_in_and_goes_to_the_dashboard(self, client, alice):
        response = attempt(client, password=PASSWORD)
        assert response.status_code == 302
        assert response["Location"] == "/kurrent-db-demo/"
        assert client.session["_auth_user_id"] == str(alice.pk)

    def test_it_follows_a_safe_next(self, client, alice):
        response = attempt(client, password=PASSWORD, next="/kurrent-db-demo/me/")
        assert response["Location"] == "/kurrent-db-demo/me/"

    def test_it_ignores_an_offsite_next(self, client, alice):
        response = attempt(client, password=PASSWORD, next="https://evil.example/")
        assert response["Location"] == "/kurrent-db-demo/"

    def test_a_wrong_password_says_so(self, client, alice):
        response = attempt(client)
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_a_signed_in_user_is_sent_on(self, client, alice):
        client.force_login(alice)
        assert client.get(URL)["Location"] == "/kurrent-db-demo/"

    def test_it_enforces_csrf(self, alice):
        client = Client(enforce_csrf_checks=True)
        assert attempt(client, password=PASSWORD).status_code == 403


class TestLockout:
    def test_five_failures_lock_the_pair_out(self, client, alice):
        for _ in range(throttle.MAX_FAILURES - 1):
            assert attempt(client).status_code == 200
        response = attempt(client)
        assert response.status_code == 429
        assert "Too many failed sign-ins" in response.content.decode()
        assert "Try again in 15 minutes" in response.content.decode()

    def test_while_locked_even_the_right_password_is_refused(self, client, alice):
        for _ in range(throttle.MAX_FAILURES):
            attempt(client)
        response = attempt(client, password=PASSWORD)
        assert response.status_code == 429
        assert "_auth_user_id" not in client.session

    def test_another_address_is_not_locked(self, client, alice):
        for _ in range(throttle.MAX_FAILURES):
            attempt(client, ip="10.0.0.1")
        assert attempt(client, password=PASSWORD, ip="10.0.0.2").status_code == 302

    def test_another_username_is_not_locked(self, client, alice, bob):
        for _ in range(throttle.MAX_FAILURES):
            attempt(client, username="alice")
        assert attempt(client, username="bob", password=PASSWORD).status_code == 302

    def test_usernames_count_case_insensitively(self, client, alice):
        for name in ("alice", "ALICE", "Alice", "aLiCe", "alicE"):
            attempt(client, username=name)
        assert attempt(client, password=PASSWORD).status_code == 429

    # Spellings that Django's sign-in form turns into "alice" (strip, then NFKC), so
    # each one is a guess at alice's password and must count against her.
    LOOK_ALIKES = [
        "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth letters
        " alice ",  # surrounding spaces
        "\talice\n",  # tab and newline
        "\u3000alice\u00a0",  # ideographic and no-break space
        "al\u2170ce",  # small roman numeral one for the i
        "\U0001d41a\U0001d425\U0001d422\U0001d41c\U0001d41e",  # mathematical bold
        "\u24d0lice",  # circled a
    ]

    @pytest.mark.parametrize("name", LOOK_ALIKES)
    def test_a_look_alike_signs_in_as_the_user(self, client, alice, name):
        # Why it matters: Django authenticates every one of these as alice.
        assert attempt(client, username=name, password=PASSWORD).status_code == 302
        assert client.session["_auth_user_id"] == str(alice.pk)

    # Fullwidth capitals are "ALICE" to Django, another account on a case-sensitive
    # lookup; counted with alice anyway, as plain capitals are.
    @pytest.mark.parametrize("name", [*LOOK_ALIKES, "\uff21\uff2c\uff29\uff23\uff25"])
    def test_look_alike_guesses_share_the_count(self, client, alice, name):
        for _ in range(throttle.MAX_FAILURES):
            attempt(client, username=name)
        assert attempt(client, password=PASSWORD).status_code == 429
        assert attempt(client, username=name, password=PASSWORD).status_code == 429
        assert "_auth_user_id" not in client.session

    def test_mixed_look_alikes_lock_out_at_the_fifth_and_refuse_the_sixth(self, client, alice):
        statuses = [attempt(client, username=name).status_code for name in self.LOOK_ALIKES[:5]]
        assert statuses == [200] * 4 + [429]
        response = attempt(client, username=self.LOOK_ALIKES[5], password=PASSWORD)
        assert response.status_code == 429
        assert "_auth_user_id" not in client.session
        assert LoginThrottle.objects.get().username == "alice"

    def test_a_success_by_a_look_alike_clears_the_count(self, client, alice):
        for _ in range(throttle.MAX_FAILURES - 1):
            attempt(client)
        assert (
            attempt(
                client, username="\uff41\uff4c\uff49\uff43\uff45", password=PASSWORD
            ).status_code
            == 302
        )
        assert LoginThrottle.objects.count() == 0

    @pytest.mark.parametrize("name", ["bob\x00", "x" * 400, "\ufdfa" * 150])
    def test_odd_names_are_counted_not_a_500(self, client, alice, name):
        for _ in range(throttle.MAX_FAILURES):
            assert attempt(client, username=name).status_code in (200, 429)
        assert attempt(client, username=name).status_code == 429

    def test_the_lockout_ends(self, client, alice):
        for _ in range(throttle.MAX_FAILURES):
            attempt(client)
        LoginThrottle.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
        assert attempt(client, password=PASSWORD).status_code == 302

    def test_success_clears_the_count(self, client, alice):
        for _ in range(throttle.MAX_FAILURES - 1):
            attempt(client)
        assert attempt(client, password=PASSWORD).status_code == 302
        client.logout()
        assert LoginThrottle.objects.count() == 0
        assert attempt(client).status_code == 200  # one failure, not the fifth

    def test_old_failures_fall_out_of_the_window(self, alice):
        start = timezone.now()
        for _ in range(throttle.MAX_FAILURES - 1):
            throttle.record_failure("alice", "10.0.0.1", now=start)
        later = start + throttle.WINDOW + timedelta(seconds=1)
        assert throttle.record_failure("alice", "10.0.0.1", now=later) == 0
        assert throttle.locked_for("alice", "10.0.0.1", now=later) == 0

    def test_locked_for_counts_down(self, alice):
        start = timezone.now()
        for _ in range(throttle.MAX_FAILURES):
            throttle.record_failure("alice", "10.0.0.1", now=start)
        assert throttle.locked_for("alice", "10.0.0.1", now=start) == 15 * 60
        assert throttle.locked_for("alice", "10.0.0.1", now=start + timedelta(minutes=14)) == 60

    @pytest.mark.parametrize(
        "seconds, text",
        [(900, "15 minutes"), (61, "2 minutes"), (60, "1 minute"), (5, "5 seconds")],
    )
    def test_describe_wait(self, seconds, text):
        assert throttle.describe_wait(seconds) == text


class TestLogout:
    def test_it_needs_post(self, client, alice):
        client.force_login(alice)
        assert client.get("/accounts/logout/").status_code == 405
        assert "_auth_user_id" in client.session

    def test_it_signs_out(self, client, alice):
        client.force_login(alice)
        response = client.post("/accounts/logout/")
        assert response.status_code == 302 and response["Location"] == "/accounts/login/"
        assert "_auth_user_id" not in client.session


class TestAdminLogin:
    def test_admin_sign_in_goes_through_the_throttled_page(self, client):
        response = client.get("/admin/login/?next=/admin/")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"

    def test_anonymous_admin_visitors_end_up_on_the_login_page(self, client):
        response = client.get("/admin/", follow=True)
        assert response.redirect_chain[-1][0].startswith("/accounts/login/")


class TestRoleGroups:
    def test_the_migration_creates_the_three_groups(self):
        assert set(Group.objects.values_list("name", flat=True)) >= {"viewer", "editor", "admin"}

    def test_the_groups_hold_sensible_permissions(self):
        def perms(name):
            return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))

        assert "view_streamrecord" in perms("viewer")
        assert "change_streamrecord" not in perms("viewer")
        assert {"add_streamrecord", "change_streamrecord", "delete_streamrecord"} <= perms("editor")
        assert "view_user" in perms("admin") and "view_user" not in perms("editor")
