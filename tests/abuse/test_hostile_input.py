"""Property tests: hostile input to every form and endpoint is refused with a message
(a 4xx, or for htmx a re-rendered form showing the error), never a 500, and appends no
event: the commit position of $all is the same before and after."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kurrent.core.domain import TAG_RE

HX = {"HTTP_HX_REQUEST": "true"}
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DASH = "/kurrent-db-demo"

INJECTIONS = [
    "'; DROP TABLE kurrent_streamrecord; --",
    '" OR 1=1 --',
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ settings.SECRET_KEY }}",
    "{% debug %}",
    "${jndi:ldap://127.0.0.1/a}",
    "../../../../etc/passwd",
    "\x00",
    "\u202e\u2066evil",
    "\uff53\uff43\uff52\uff49\uff50\uff54",  # fullwidth "script"
    "𝕬𝖉𝖒𝖎𝖓",
    "e\u0301" * 50,
    "\ufeff",
    "NaN",
    "Infinity",
    "-- ",
    "%00%2e%2e%2f",
    "pool-$all",
    "$all",
]
# Any text a browser can send: every code point but lone surrogates.
ODD_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300)
TEXT = st.one_of(ODD_TEXT, st.sampled_from(INJECTIONS))


# --- what counts as invalid, mirroring the forms and services ---------------------------------


def _json_object(text: str) -> bool:
    if text == "":
        return True  # an empty data field means {}
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


def _uuid(text: str) -> bool:
    try:
        uuid.UUID(text.strip())
    except (ValueError, AttributeError):
        return False
    return True


def _bad_tags(text: str) -> bool:
    if "\x00" in text:
        return True
    tags = text.replace(",", " ").split()
    return any(not TAG_RE.match(t.strip().lower()) for t in tags) or len(set(tags)) > 20


def _bad_int(value: str) -> bool:
    try:
        return int(value.strip()) < 0
    except ValueError:
        return True


BAD_DATA = st.one_of(
    TEXT.filter(lambda t: not _json_object(t)),
    st.sampled_from(["[1, 2]", '"text"', "null", "1e999", '{"a":', "{'a': 1}", "[" * 5000]),
    st.recursive(st.integers() | st.text(max_size=5), st.lists, max_leaves=5).map(json.dumps),
)
BAD_NAME = st.one_of(
    st.just(""),
    st.text(alphabet=" \t\r\n\u3000", min_size=1, max_size=5),
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Z", "Cc")),
        min_size=201,
        max_size=260,
    ),
    TEXT.map(lambda t: t + "\x00"),
)
BAD_TAGS = TEXT.filter(_bad_tags)
BAD_KEY = TEXT.filter(lambda t: not _uuid(t))
BAD_VERSION = st.one_of(
    st.integers(max_value=-1).map(str),
    TEXT.filter(_bad_int),
    st.just("1.5"),
    st.just("0x10"),
)


def rejected(response, *, htmx: bool) -> None:
    """A 4xx with a body, or (htmx) the form again with an error shown."""
    status = response.status_code
    assert status < 500, response.content[:2000]
    body = response.content.decode("utf-8", "replace")
    if htmx and status == 200:
        assert "field-error" in body or 'role="alert"' in body or "errorlist" in body, body[:2000]
    else:
        assert 400 <= status < 500, (status, body[:2000])
        assert body.strip()


def post(client, url: str, data: dict, htmx: bool):
    return client.post(url, data, **(HX if htmx else {}))


def record_form(**changes) -> dict:
    form = {
        "name": "Valid name",
        "data": '{"a": 1}',
        "tags": "ok",
        "is_public": "on",
        "idempotency_key": str(uuid.uuid4()),
    }
    form.update(changes)
    return form


# --- records -------------------------------------------------------------------------------------


@PROPERTY
@given(
    field=st.sampled_from(["data", "name", "tags", "idempotency_key"]),
    value=st.data(),
    htmx=st.booleans(),
)
def test_create_record_refuses_bad_fields(world, field, value, htmx):
    bad = {"data": BAD_DATA, "name": BAD_NAME, "tags": BAD_TAGS, "idempotency_key": BAD_KEY}
    form = record_form(**{field: value.draw(bad[field])})
    before = world.position()
    rejected(post(world.client_for("editor"), f"{DASH}/records/new/", form, htmx), htmx=htmx)
    assert world.position() == before


@PROPERTY
@given(
    field=st.sampled_from(["data", "name", "tags", "idempotency_key", "expected_version"]),
    value=st.data(),
    htmx=st.booleans(),
)
def test_edit_record_refuses_bad_fields(world, field, value, htmx):
    bad = {
        "data": BAD_DATA,
        "name": BAD_NAME,
        "tags": BAD_TAGS,
        "idempotency_key": BAD_KEY,
        "expected_version": BAD_VERSION,
    }
    form = record_form(**{"expected_version": "0", field: value.draw(bad[field])})
    url = f"{DASH}/records/{world.record.id}/edit/"
    before = world.position()
    rejected(post(world.client_for("admin"), url, form, htmx), htmx=htmx)
    assert world.position() == before


@PROPERTY
@given(version=BAD_VERSION, key=st.one_of(BAD_KEY, st.just(str(uuid.uuid4()))), htmx=st.booleans())
def test_delete_record_refuses_bad_versions(world, version, key, htmx):
    url = f"{DASH}/records/{world.record.id}/delete/"
    before = world.position()
    form = {"expected_version": version, "idempotency_key": key}
    rejected(post(world.client_for("admin"), url, form, htmx), htmx=htmx)
    assert world.position() == before


@PROPERTY
@given(version=st.integers(min_value=2**63 - 2, max_value=2**200).map(str), htmx=st.booleans())
def test_versions_too_big_for_kurrentdb_are_refused(world, version, htmx):
    url = f"{DASH}/records/{world.record.id}/edit/"
    before = world.position()
    form = record_form(expected_version=version, name="Changed")
    response = post(world.client_for("admin"), url, form, htmx)
    assert response.status_code < 500, response.content[:1000]
    assert response.status_code != 302
    assert world.position() == before


@PROPERTY
@given(record_id=TEXT, htmx=st.booleans())
def test_unknown_record_ids_are_404(world, record_id, htmx):
    from urllib.parse import quote

    if not record_id or record_id.strip() in (world.record.id, "new"):
        return
    url = f"{DASH}/records/{quote(record_id, safe='')}/edit/"
    before = world.position()
    response = post(world.client_for("admin"), url, record_form(expected_version="0"), htmx)
    assert response.status_code in (404, 400), response.status_code
    assert world.position() == before


# --- user data -----------------------------------------------------------------------------------


@PROPERTY
@given(
    field=st.sampled_from(["entry_type", "category", "value", "tags", "idempotency_key"]),
    value=st.data(),
    htmx=st.booleans(),
)
def test_store_entry_refuses_bad_fields(world, field, value, htmx):
    bad = {
        "entry_type": TEXT.filter(
            lambda t: t not in ("profile", "preferences", "settings", "data", "custom")
        ),
        "category": st.one_of(
            st.just(""),
            st.text(min_size=101, max_size=150).filter(lambda t: len(t.strip()) > 100),
            TEXT.map(lambda t: t + "\x00"),
        ),
        "value": BAD_DATA.filter(lambda t: t != ""),
        "tags": BAD_TAGS,
        "idempotency_key": BAD_KEY,
    }
    form = {
        "entry_type": "profile",
        "category": "about",
        "value": '{"a": 1}',
        "tags": "",
        "idempotency_key": str(uuid.uuid4()),
        field: value.draw(bad[field]),
    }
    before = world.position()
    rejected(post(world.client_for("editor"), f"{DASH}/me/new/", form, htmx), htmx=htmx)
    assert world.position() == before


@PROPERTY
@given(
    action=st.sampled_from(["edit", "visibility", "delete"]),
    version=BAD_VERSION,
    htmx=st.booleans(),
)
def test_entry_changes_refuse_bad_versions(world, action, version, htmx):
    url = f"{DASH}/me/{world.entry.id}/{action}/"
    form = {
        "category": "about",
        "value": '{"b": 2}',
        "is_public": "on",
        "expected_version": version,
        "idempotency_key": str(uuid.uuid4()),
    }
    before = world.position()
    response = post(world.client_for("admin"), url, form, htmx)
    if action == "visibility" and htmx:
        assert response.status_code in (200, 400)
    else:
        rejected(response, htmx=htmx)
    assert world.position() == before


# --- admin actions -------------------------------------------------------------------------------


@PROPERTY
@given(env=TEXT.filter(lambda t: t.strip() not in django_settings.KURRENTDB_ENVIRONMENTS), nxt=TEXT)
def test_switch_env_refuses_unknown_environments(world, env, nxt):
    client = world.client_for("admin")
    before = world.position()
    response = client.post(f"{DASH}/env/", {"env": env, "next": nxt})
    assert 400 <= response.status_code < 500
    assert world.position() == before
    assert client.session.get("kurrent_env") is None


@PROPERTY
@given(confirm=TEXT.filter(lambda t: t != "olga"))
def test_erase_needs_the_exact_username(world, confirm):
    url = f"{DASH}/users/{world.users['owner'].pk}/erase/"
    before = world.position()
    response = world.client_for("admin").post(url, {"confirm_username": confirm})
    assert response.status_code == 400
    assert "Type the username" in response.content.decode()
    assert world.position() == before


# --- raw bodies ----------------------------------------------------------------------------------

POST_URLS = [
    "/records/new/",
    "/records/{record}/edit/",
    "/records/{record}/delete/",
    "/me/new/",
    "/me/{entry}/edit/",
    "/me/{entry}/visibility/",
    "/me/{entry}/delete/",
    "/env/",
    "/users/{owner}/erase/",
]
CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "multipart/form-data",
    "text/plain",
    "application/octet-stream",
]


@PROPERTY
@given(
    path=st.sampled_from(POST_URLS),
    content_type=st.sampled_from(CONTENT_TYPES),
    body=st.one_of(
        st.binary(max_size=2000),
        TEXT.map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | TEXT,
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
            max_leaves=10,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    htmx=st.booleans(),
)
def test_raw_bodies_never_break_a_form(world, path, content_type, body, htmx):
    url = DASH + path.format(
        record=world.record.id, entry=world.entry.id, owner=world.users["owner"].pk
    )
    before = world.position()
    response = world.client_for("admin").generic(
        "POST", url, body, content_type=content_type, **(HX if htmx else {})
    )
    assert response.status_code < 500, response.content[:2000]
    assert response.status_code != 302  # nothing was done
    assert world.position() == before


# --- queries ---------------------------------------------------------------------------------------

GET_URLS = {
    f"{DASH}/": ["q", "tag", "owner", "page", "size"],
    f"{DASH}/directory/": ["q", "type", "page"],
    f"{DASH}/activity/new/": ["after"],
    f"{DASH}/events/": ["stream", "type", "size", "go", "pos", "system"],
    f"{DASH}/records/{{record}}/diff/": ["from_version", "to_version"],
    f"{DASH}/records/{{record}}/": ["format"],
}


@PROPERTY
@given(
    url=st.sampled_from(sorted(GET_URLS)),
    values=st.lists(TEXT, min_size=6, max_size=6),
    htmx=st.booleans(),
)
def test_hostile_queries_are_answered_not_crashed(world, url, values, htmx):
    params = dict(zip(GET_URLS[url], values, strict=False))
    before = world.position()
    response = world.client_for("admin").get(
        url.format(record=world.record.id), params, **(HX if htmx else {})
    )
    assert response.status_code in (200, 204, 400), (response.status_code, response.content[:1000])
    body = response.content.decode("utf-8", "replace")
    for value in values:
        if "<" in value and len(value) > 3:
            assert value not in body, "a query value was echoed unescaped"
    assert world.position() == before


@PROPERTY
@given(username=TEXT, password=TEXT)
def test_login_refuses_hostile_credentials(world, username, password):
    from django.test import Client

    client = Client()
    before = world.position()
    response = client.post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session
    assert world.position() == before


# --- big bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_data_over_the_size_limit(world, htmx, settings):
    settings.KURRENT_RECORD_MAX_DATA_BYTES = 4096
    big = json.dumps({"blob": "x" * 5000})
    before = world.position()
    response = post(world.client_for("editor"), f"{DASH}/records/new/", record_form(data=big), htmx)
    rejected(response, htmx=htmx)
    assert "too large" in response.content.decode()
    assert world.position() == before


def test_a_body_over_djangos_upload_limit_is_400(world):
    size = django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024
    before = world.position()
    response = world.client_for("editor").post(
        f"{DASH}/records/new/", record_form(data=json.dumps({"blob": "x" * size}))
    )
    assert response.status_code == 400
    assert world.position() == before


def test_too_many_fields_is_400(world):
    form = record_form(
        **{f"f{n}": "x" for n in range(django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    )
    before = world.position()
    response = world.client_for("editor").post(f"{DASH}/records/new/", form)
    assert response.status_code == 400
    assert world.position() == before


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_json_is_refused(world, depth):
    nested = "[" * depth + "]" * depth
    before = world.position()
    response = world.client_for("editor").post(
        f"{DASH}/records/new/", record_form(data='{"a": ' + nested + "}")
    )
    rejected(response, htmx=False)
    assert world.position() == before


def test_injection_strings_in_valid_fields_are_stored_verbatim(world):
    """Where such text is valid (a name, a JSON string), it is data: stored as typed."""
    from kurrent.models import StreamRecord

    names = [s for s in INJECTIONS if s.strip() and "\x00" not in s and len(s) <= 200]
    client = world.client_for("editor")
    for name in names:
        response = client.post(
            f"{DASH}/records/new/", record_form(name=name, data=json.dumps({"v": name}))
        )
        assert response.status_code == 302, (name, response.status_code)
    stored = set(StreamRecord.objects.values_list("name", flat=True))
    assert {n.strip() for n in names} <= stored
    assert re.search(r"kurrent_streamrecord", str(StreamRecord._meta.db_table))
