"""CSRF on every URL, script payloads rendered escaped on every page that shows them, and
the sign-in throttle against a brute-force run."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from kurrent.ops import endpoints
from kurrent.services import records, userdata
from kurrent.services.roles import EDITOR
from tests.abuse.conftest import PASSWORD
from tests.abuse.test_role_matrix import PATTERNS, concrete_url

DASH = "/kurrent-db-demo"
SCRIPT = "<script>alert('pp-xss')</script>"
ATTR = '"><img src=x onerror=alert(1)>'


# --- CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["anonymous", "admin"])
def test_every_post_without_a_token_is_refused(world, role):
    client = world.client_for(role, enforce_csrf_checks=True)
    before = world.position()
    refused = []
    for route, _name in PATTERNS:
        url = concrete_url(route, world)
        response = client.post(url, {"name": "x", "data": "{}", "idempotency_key": "x"})
        if url == endpoints.HEALTH_PATH:
            # Answered before the CSRF check (endpoints.HealthMiddleware); it takes no POST at all.
            if response.status_code != 405:
                refused.append(f"{url}: {response.status_code}")
        elif response.status_code != 403 or b"CSRF" not in response.content:
            refused.append(f"{url}: {response.status_code}")
    assert not refused, refused
    assert world.position() == before


def test_a_token_of_another_session_is_refused(world):
    client = world.client_for("editor", enforce_csrf_checks=True)
    client.get(f"{DASH}/")  # sets this session's CSRF cookie
    other = world.client_for("editor", enforce_csrf_checks=True)
    other.get(f"{DASH}/")
    before = world.position()
    response = client.post(
        f"{DASH}/records/new/",
        {
            "csrfmiddlewaretoken": other.cookies["csrftoken"].value,
            "name": "x",
            "data": "{}",
            "idempotency_key": "8f5a5e0e-2a6e-4f0e-9a59-5d86a1a0b001",
        },
    )
    assert response.status_code == 403
    assert world.position() == before


@pytest.mark.parametrize("via", ["field", "header"])
def test_the_right_token_is_accepted(world, via):
    """The control: the same request with its token goes through."""
    client = world.client_for("editor", enforce_csrf_checks=True)
    client.get(f"{DASH}/")
    token = client.cookies["csrftoken"].value
    form = {
        "name": "With token",
        "data": "{}",
        "idempotency_key": f"8f5a5e0e-2a6e-4f0e-9a59-5d86a1a0b00{len(via)}",
    }
    if via == "field":
        response = client.post(f"{DASH}/records/new/", {**form, "csrfmiddlewaretoken": token})
    else:  # htmx sends it as a header (hx-headers on <body>)
        response = client.post(
            f"{DASH}/records/new/", form, HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true"
        )
    assert response.status_code in (200, 302)
    assert b"CSRF" not in response.content


# --- escaping -----------------------------------------------------------------------------------


@pytest.fixture
def payloads(world):
    owner = User.objects.create_user(username=f"mallory{SCRIPT}", password=PASSWORD)
    owner.groups.add(Group.objects.get(name=EDITOR))
    owner.first_name = SCRIPT
    owner.save()
    record = records.create_record(
        owner,
        name=f"{SCRIPT}{ATTR}",
        data={"note": SCRIPT, SCRIPT: ATTR, "nested": [{"x": SCRIPT}]},
        tags=["xss"],
        metadata={"source": SCRIPT},
        is_public=True,
    )
    record = records.update_record(
        owner, record.id, expected_version=0, data={"note": ATTR, "changed": SCRIPT}
    )
    entry = userdata.store_entry(
        owner,
        entry_type="custom",
        category=f"{SCRIPT}",
        value={"text": SCRIPT, "attr": ATTR},
        is_public=True,
    )
    return {"owner": owner, "record": record, "entry": entry}


def test_script_payloads_are_rendered_escaped(world, payloads):
    record, owner = payloads["record"], payloads["owner"]
    pages = [
        f"{DASH}/",
        f"{DASH}/?q=alert",
        f"{DASH}/?q={SCRIPT}",
        f"{DASH}/records/{record.id}/",
        f"{DASH}/records/{record.id}/?format=raw",
        f"{DASH}/records/{record.id}/v/0/",
        f"{DASH}/records/{record.id}/diff/?from_version=0&to_version=1",
        f"{DASH}/records/{record.id}/edit/",
        f"{DASH}/records/{record.id}/delete/",
        f"{DASH}/activity/",
        f"{DASH}/directory/",
        f"{DASH}/directory/?q=alert",
        f"{DASH}/users/",
        f"{DASH}/users/{owner.pk}/data/",
        f"{DASH}/users/{owner.pk}/erase/",
        f"{DASH}/me/{payloads['entry'].id}/edit/",
        f"{DASH}/events/",
        f"{DASH}/events/?stream=pool-{record.id}",
        f"{DASH}/events/?stream={SCRIPT}",
    ]
    admin = world.client_for("admin")
    shown = 0
    for page in pages:
        for extra in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = admin.get(page, **extra)
            assert response.status_code in (200, 204), (page, response.status_code)
            body = response.content.decode()
            assert SCRIPT not in body, f"unescaped script on {page} {extra}"
            assert ATTR not in body, f"unescaped attribute breakout on {page} {extra}"
            assert "onerror=alert(1)>" not in body
            shown += "&lt;script&gt;alert(" in body
    assert shown >= 10  # the payloads are on the pages, escaped


def test_the_owner_sees_their_own_payloads_escaped(world, payloads):
    client = world.client_for("anonymous")
    client.force_login(payloads["owner"])
    for page in (f"{DASH}/me/", f"{DASH}/", f"{DASH}/records/{payloads['record'].id}/"):
        body = client.get(page).content.decode()
        assert SCRIPT not in body and ATTR not in body
        assert "&lt;script&gt;" in body


def test_a_refused_payload_is_echoed_escaped(world):
    client = world.client_for("editor")
    form = {
        "name": SCRIPT,
        "data": SCRIPT,  # not JSON: refused, and the text goes back into the form
        "tags": f"ok {SCRIPT}",
        "idempotency_key": "8f5a5e0e-2a6e-4f0e-9a59-5d86a1a0b0ff",
    }
    before = world.position()
    for extra in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = client.post(f"{DASH}/records/new/", form, **extra)
        body = response.content.decode()
        assert response.status_code in (200, 400)
        assert SCRIPT not in body
        assert "&lt;script&gt;" in body
    assert world.position() == before


def test_json_views_escape_the_payload(world, payloads):
    """Data shown as JSON (pretty or raw) is escaped as text, not emitted as markup."""
    admin = world.client_for("admin")
    for fmt in ("pretty", "raw"):
        page = f"{DASH}/records/{payloads['record'].id}/?format={fmt}"
        body = admin.get(page).content.decode()
        assert "&lt;script&gt;alert(&#x27;pp-xss&#x27;)&lt;/script&gt;" in body, fmt
        assert SCRIPT not in body


# --- sign-in throttle -----------------------------------------------------------------------------


def test_a_brute_force_run_is_locked_out(world):
    from django.test import Client

    victim = world.users["editor"]
    client = Client()
    statuses = []
    for n in range(12):
        response = client.post(
            "/accounts/login/", {"username": victim.username, "password": f"guess-{n}"}
        )
        statuses.append(response.status_code)
    assert statuses[:4] == [200] * 4
    assert set(statuses[4:]) == {429}
    response = client.post("/accounts/login/", {"username": victim.username, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "evasion",
    [
        {"HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"HTTP_X_REAL_IP": "203.0.113.10"},
        {"HTTP_CLIENT_IP": "203.0.113.11"},
    ],
)
def test_forged_address_headers_do_not_reset_the_count(world, evasion):
    from django.test import Client

    victim = world.users["viewer"]
    for n in range(5):
        Client().post("/accounts/login/", {"username": victim.username, "password": f"g{n}"})
    response = Client().post(
        "/accounts/login/", {"username": victim.username, "password": PASSWORD}, **evasion
    )
    assert response.status_code == 429


@pytest.mark.parametrize("variant", ["{}", "{} ", "{}".upper()])
def test_username_variants_share_the_count(world, variant):
    from django.test import Client

    victim = world.users["admin"]
    name = variant.format(victim.username)
    for n in range(5):
        Client().post("/accounts/login/", {"username": name, "password": f"g{n}"})
    response = Client().post(
        "/accounts/login/", {"username": victim.username, "password": PASSWORD}
    )
    assert response.status_code == 429


def test_the_admin_sign_in_cannot_bypass_it(world):
    from django.test import Client

    victim = world.users["admin"]
    for n in range(5):
        Client().post("/accounts/login/", {"username": victim.username, "password": f"g{n}"})
    client = Client()
    response = client.post("/admin/login/", {"username": victim.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session
