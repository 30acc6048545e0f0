"""The 500s issue 12 named, each answered now (the walk in test_walk.py looks for more):
a lone surrogate in JSON data, the tag filter with upper case or two words, event-browser
positions beyond 2^63."""

from __future__ import annotations

import uuid

import pytest

from kurrent.services import records

DASH = "/kurrent-db-demo"
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("data", ['{"a": "\\ud800"}', '{"\\udfff": 1}', '{"a": ["x\\ud83d"]}'])
def test_a_lone_surrogate_in_json_data_names_the_field(world, data, htmx):
    client = world.client_for("editor", raise_request_exception=False)
    forms = [
        (f"{DASH}/records/new/", {"name": "n", "data": data, "idempotency_key": str(uuid.uuid4())}),
        (
            f"{DASH}/me/new/",
            {
                "entry_type": "profile",
                "category": "c",
                "value": data,
                "idempotency_key": str(uuid.uuid4()),
            },
        ),
    ]
    before = world.position()
    for url, form in forms:
        response = client.post(url, form, **(HX if htmx else {}))
        assert response.status_code == (200 if htmx else 400)
        assert "lone surrogate" in response.content.decode()
    assert world.position() == before


@pytest.mark.parametrize("htmx", [False, True])
def test_the_tag_filter_takes_upper_case_and_several_tags(world, htmx):
    owner = world.users["owner"]
    records.create_record(
        owner, name="Both tags", data={}, tags=["sample", "extra"], is_public=True
    )
    client = world.client_for("viewer", raise_request_exception=False)
    upper = client.get(f"{DASH}/", {"tag": "SAMPLE"}, **(HX if htmx else {}))
    assert upper.status_code == 200
    assert "Sample record" in upper.content.decode()
    both = client.get(f"{DASH}/", {"tag": "Sample Extra"}, **HX).content.decode()
    assert "Both tags" in both and "Sample record" not in both


@pytest.mark.parametrize("tag", ["two words!", "~,", "a" * 41, "é"])
def test_a_tag_filter_that_is_no_tag_says_so(world, tag):
    client = world.client_for("viewer", raise_request_exception=False)
    for query in ({"tag": tag}, {"tag": tag, "q": "sample"}):
        response = client.get(f"{DASH}/", query, **HX)  # the record list alone
        assert response.status_code == 200
        body = response.content.decode()
        assert "Tag filter:" in body and "is not a tag" in body
        assert "Sample record" not in body


@pytest.mark.parametrize("pos", [2**63, 2**64 - 1, 2**64, 10**30])
@pytest.mark.parametrize("stream", ["", "sample-stream"])
def test_event_browser_positions_beyond_2_63(world, pos, stream):
    client = world.client_for("admin", raise_request_exception=False)
    for go in ("after", "before"):
        response = client.get(f"{DASH}/events/", {"go": go, "pos": str(pos), "stream": stream})
        assert response.status_code in (200, 400), (go, pos, response.status_code)
        body = response.content.decode()
        if pos >= 2**64:
            assert response.status_code == 400
            assert "pos" in body or "Ensure this value" in body
        elif stream:
            assert "There is no revision" in body


def test_a_number_too_large_for_the_database_is_a_400(world):
    """Found by the walk: Django's own admin form looks up a huge group id and SQLite
    cannot take it (OverflowError). Any such number is a 400 page, never a 500."""
    from django.contrib.auth.models import User

    staff = User.objects.create_user("root", password="x", is_staff=True, is_superuser=True)
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.force_login(staff)
    victim = world.users["viewer"]
    response = client.post(
        f"/admin/auth/user/{victim.pk}/change/",
        {"username": victim.username, "groups": str(10**30), "date_joined_0": "2026-01-01"},
    )
    assert response.status_code == 400
    assert "too large" in response.content.decode()
