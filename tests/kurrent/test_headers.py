"""Headers of every page: signed-in answers are `Cache-Control: private`, and every page
carries a Content-Security-Policy that allows only our own scripts, styles and images,
which the pages keep to: no inline script, on* handler, style element or attribute."""

from __future__ import annotations

import json
import re

import pytest

from kurrent.models import StreamRecord
from kurrent.services import records
from tests.conftest import _user
from tests.kurrent.viewtools import HX, entry, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE = re.compile(r"<style\b|<[^>]+\sstyle\s*=", re.I)


@pytest.fixture
def staff(db):
    return _user("root", "admin", is_staff=True, is_superuser=True)


@pytest.fixture
def world(alice, staff):
    r = record(alice, name="Census", is_public=True)
    records.update_record(alice, r.id, expected_version=0, data={"count": 4})
    e = entry(alice, is_public=True)
    return {"record": r, "entry": e, "row": StreamRecord.objects.get(record_id=r.id)}


def pages(world) -> list[str]:
    r, e, row = world["record"].id, world["entry"].id, world["row"].pk
    base = "/kurrent-db-demo/"
    return [
        base,
        f"{base}?q=census",
        f"{base}status/",
        f"{base}activity/",
        f"{base}records/{r}/",
        f"{base}records/{r}/v/0/",
        f"{base}records/{r}/diff/?from_version=0&to_version=1",
        f"{base}records/{r}/edit/",
        f"{base}records/{r}/delete/",
        f"{base}me/",
        f"{base}me/{e}/edit/",
        f"{base}me/{e}/delete/",
        f"{base}directory/",
        f"{base}users/",
        f"{base}events/",
        f"{base}tokens/",
        f"{base}records/no-such-record/",  # the 404 page
        "/admin/",
        "/admin/kurrent/streamrecord/",
        f"/admin/kurrent/streamrecord/{row}/change/",
        f"/admin/kurrent/streamrecord/{row}/history/",
        "/admin/auth/user/",
    ]


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


def assert_keeps_to_the_policy(url: str, response) -> None:
    body = response.content.decode()
    assert not INLINE_SCRIPT.findall(body), url
    assert not HANDLER.findall(body), url
    assert not STYLE.findall(body), url


class TestCacheControl:
    @pytest.mark.parametrize("htmx", [False, True])
    def test_every_signed_in_page_is_private(self, client, staff, world, htmx):
        client.force_login(staff)
        for url in pages(world):
            response = client.get(url, **(HX if htmx else {}))
            assert response.status_code in (200, 404), url
            directives = response.get("Cache-Control", "")
            assert "private" in directives, (url, directives)
            assert "public" not in directives, url

    def test_an_editor_and_the_403_page_too(self, client, bob, world):
        client.force_login(bob)
        response = client.get(f"/kurrent-db-demo/records/{world['record'].id}/edit/")
        assert response.status_code == 403
        assert "private" in response["Cache-Control"]

    def test_a_post_answer_too(self, client, alice):
        client.force_login(alice)
        response = client.post("/kurrent-db-demo/records/new/", {"name": ""})
        assert response.status_code == 400
        assert "private" in response["Cache-Control"]

    def test_never_cache_keeps_no_store(self, client, alice):
        client.force_login(alice)
        directives = client.get("/accounts/login/?next=/x/").get("Cache-Control", "")
        assert "private" in directives  # a redirect for a signed-in user
        assert "no-store" in client.post("/accounts/login/", {"username": "x"})["Cache-Control"]

    def test_signed_out_pages_are_not_marked(self, client):
        response = client.get("/kurrent-db-demo/")
        assert response.status_code == 302
        assert "private" not in response.get("Cache-Control", "")


class TestContentSecurityPolicy:
    def test_it_allows_only_our_own_scripts_styles_and_images(self, client, alice):
        client.force_login(alice)
        directives = policy(client.get("/kurrent-db-demo/"))
        for name in ("default-src", "script-src", "style-src", "img-src", "connect-src"):
            assert directives[name] == ["'self'"], name
        assert directives["object-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert directives["form-action"] == ["'self'"]

    def test_the_sign_in_page_has_it_and_keeps_to_it(self, client):
        response = client.get("/accounts/login/")
        assert policy(response)["script-src"] == ["'self'"]
        assert_keeps_to_the_policy("/accounts/login/", response)

    @pytest.mark.parametrize("htmx", [False, True])
    def test_every_page_keeps_to_it(self, client, staff, world, htmx):
        client.force_login(staff)
        for url in pages(world):
            response = client.get(url, **(HX if htmx else {}))
            assert "script-src 'self'" in response["Content-Security-Policy"], url
            assert_keeps_to_the_policy(url, response)

    def test_htmx_neither_injects_a_style_nor_evaluates_code(self, client, alice):
        client.force_login(alice)
        body = client.get("/kurrent-db-demo/").content.decode()
        found = re.search(r"""<meta name="htmx-config" content='([^']*)'>""", body)
        assert found is not None
        config = json.loads(found.group(1))
        assert config["includeIndicatorStyles"] is False
        assert config["allowEval"] is False
        # A filter in hx-trigger ([...]) is code htmx would evaluate.
        for trigger in re.findall(r'hx-trigger="([^"]*)"', body):
            assert "[" not in trigger, trigger

    def test_the_500_page_keeps_to_it(self):
        from django.template import loader

        body = loader.get_template("500.html").render({})
        assert not INLINE_SCRIPT.findall(body) and not STYLE.findall(body)
        assert '<link rel="stylesheet" href="/static/css/error.css">' in body
