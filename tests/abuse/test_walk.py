"""The walk: every URL pattern x every parameter x every role, sent hostile values.

Nothing here lists the app's URLs or fields. The URL patterns come from the URLconf
(a new URL is walked without editing this file); the parameters of each URL are found
by crawling the pages the app renders, as a person (or an attacker) would: every
<form> (its action, method and fields with their default values) and every link or
hx-get with a query string, resolved back to its URL pattern. Path parameters
(`<str:record_id>`, `<int:version>`, ...) are parameters too.

For each URL, one hypothesis example sends, for every role and every parameter, one
request where that parameter holds a generated hostile value and the others keep the
values the page rendered (so the hostile one gets past the form to the service when it
can). Each answer must be:

- never a 5xx;
- nothing appended to KurrentDB ($all's commit position unchanged), unless the answer
  is the app's own "done" (a redirect, HX-Redirect or HX-Trigger): a hostile value that
  is valid (a name like `'; DROP TABLE`) is data and is saved;
- for a role other than admin, no internal host name or port of KurrentDB in the page.

WALK_EXAMPLES (default 1: each covers every parameter x role of its URL) sets the examples per URL: `WALK_EXAMPLES=50 pytest
tests/abuse/test_walk.py` walks deeper. `test_walk_figures` prints what one run covers.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, quote, urljoin, urlsplit

import pytest
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kurrent.services.roles import ADMIN, EDITOR, VIEWER
from tests.abuse.conftest import World, make_user
from tests.abuse.test_role_matrix import concrete_url as _role_matrix_url
from tests.abuse.test_role_matrix import url_patterns

WALK_EXAMPLES = int(os.environ.get("WALK_EXAMPLES", "1"))
WALK = settings(
    max_examples=WALK_EXAMPLES,
    deadline=None,
    # A failure names the request and its value; shrinking it (many requests per
    # example) would take minutes. WALK_SHRINK=1 shrinks.
    phases=[Phase.explicit, Phase.reuse, Phase.generate]
    + ([Phase.shrink] if os.environ.get("WALK_SHRINK") else []),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# "owner" is an editor who owns the sample record and entry; "staff" may use /admin/.
WALK_ROLES = ("anonymous", "viewer", "editor", "owner", "admin", "staff")
PATTERNS = url_patterns()
DONE_HEADERS = ("HX-Redirect", "HX-Trigger")

# --- hostile values --------------------------------------------------------------------

SPECIAL = [
    "",
    " ",
    "A",
    "Two Words",
    "two words",
    "a:b",
    '"',
    "*",
    "a*",
    "(",
    "^",
    "-",
    "OR",
    "NEAR",
    "'; DROP TABLE kurrent_streamrecord; --",
    "<script>alert(1)</script>",
    "{{ settings.SECRET_KEY }}",
    "{% debug %}",
    "../../../../etc/passwd",
    "%00",
    "\x00",
    "\u202e",
    "\ufeff",
    "𝕬𝖉𝖒𝖎𝖓",
    "$all",
    "$et-StreamCreated",
    "-1",
    "0",
    "1.5",
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "true",
    "null",
    "0x10",
    str(2**31),
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    str(2**64 + 1),
    str(10**100),
    "[]",
    "{}",
    '{"a": "\\ud800"}',
    '{"\\udfff": 1}',
    '"\\ud800"',
    '{"$tb": 1e400}',
    '{"a": 1e400}',
    '{"a": NaN}',
    '{"a": "\\u0000"}',
    "[" * 3000,
    '{"a":' * 2000,
    "x" * 5000,
    "a " * 3000,
    str(uuid.UUID(int=0)),
    str(uuid.UUID(int=2**128 - 1)),
]
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60)
SYNTAX = st.text(alphabet="AZaz09 -_,.:*\"'()^~$/\\%+&=?#", max_size=30)
NUMBERS = st.integers(min_value=-(2**130), max_value=2**130).map(str)
JSON_TEXT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=6,
).map(lambda v: json.dumps(v, ensure_ascii=True))
HOSTILE = st.one_of(st.sampled_from(SPECIAL), ANY_TEXT, SYNTAX, NUMBERS, JSON_TEXT)
# What a path converter lets through: digits for <int:>, no slash for <str:>.
PATH_VALUES = {
    "int": st.one_of(st.integers(min_value=0, max_value=2**130).map(str), st.just("0" * 40)),
    "str": HOSTILE.filter(lambda v: v != "" and "/" not in v),
    "path": HOSTILE.filter(lambda v: v != ""),
}


# --- what the pages offer ---------------------------------------------------------------


@dataclass
class Params:
    """The parameters one URL pattern takes: method -> name -> the value a page rendered."""

    by_method: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, method: str, name: str, value: str) -> None:
        self.by_method.setdefault(method, {}).setdefault(name, value)


class _PageParser(HTMLParser):
    """Forms (action, method, fields) and links with a query string."""

    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[tuple[str, str, dict[str, str]]] = []
        self.links: list[str] = []
        self._form: tuple[str, str, dict[str, str]] | None = None
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for attr in ("href", "hx-get"):
            if "?" in a.get(attr, ""):
                self.links.append(a[attr])
        if tag == "form":
            method = "POST" if a.get("hx-post") or a.get("method", "").lower() == "post" else "GET"
            action = a.get("hx-post") or a.get("hx-get") or a.get("action") or self.page_url
            self._form = (action, method, {})
            self.forms.append(self._form)
        if self._form is None or not a.get("name"):
            return
        fields = self._form[2]
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a or name not in fields:
                    fields[name] = a.get("value", "on") if "checked" in a else ""
            elif kind not in ("submit", "button", "image", "reset", "file"):
                fields[name] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            fields[name] = ""
        elif tag == "select":
            self._select = name
            fields.setdefault(name, "")
        elif tag == "option" and self._select and ("selected" in a or not fields[self._select]):
            fields[self._select] = a.get("value", "")
        elif tag == "button" and a.get("value"):
            fields.setdefault(name, a["value"])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            self._form[2][self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def concrete_url(route: str, world: World) -> str:
    """The route with the role matrix's sample values; a path parameter it does not know
    (a new URL's) gets the owner's name for names of people, else "dev"."""
    known = re.sub(r"<(?:\w+:)?(username|name)>", lambda m: "@" + m.group(1) + "@", route)
    url = _role_matrix_url(re.sub(r"<(?:\w+:)?(\w+)>", _known_or_sample, known), world)
    url = url.replace("@username@", world.users["owner"].username)
    return url.replace("@name@", "dev")


_SAMPLED = {"record_id", "entry_id", "user_id", "version", "token_id", "object_id"}
_SAMPLED |= {"content_type_id", "id", "app_label", "url", "env"}


def _known_or_sample(match: re.Match) -> str:
    return match.group(0) if match.group(1) in _SAMPLED else "dev"


def _route_of(url: str) -> str | None:
    path = urlsplit(url).path or "/"
    try:
        return resolve(path).route
    except Resolver404:
        return None


def _seed_for_the_crawl(world: World) -> None:
    """Enough data for every control to show: pagers (more than a page of records and
    of events) and the private variants of the forms."""
    from kurrent.services import records, userdata

    owner = world.users["owner"]
    for n in range(22):
        records.create_record(owner, name=f"Crawl {n}", data={"n": n}, is_public=True)
    records.create_record(owner, name="Private", data={}, is_public=False)
    category = f"crawl-{uuid.uuid4().hex[:8]}"
    userdata.store_entry(owner, entry_type="settings", category=category, value={}, is_public=False)


def crawl(world: World) -> dict[str, Params]:
    """route -> its parameters, from every page every role can GET."""
    _seed_for_the_crawl(world)
    found: dict[str, Params] = {route: Params() for route, _ in PATTERNS}
    for route, _ in PATTERNS:
        url = concrete_url(route, world)
        for role in ("anonymous", "owner", "admin", "staff"):
            client = world.client_for(role, raise_request_exception=False)
            response = client.get(url, follow=False)
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            parser = _PageParser(url)
            parser.feed(response.content.decode("utf-8", "replace"))
            for action, method, fields in parser.forms:
                target = _route_of(urljoin(url, action))
                if target is None or target not in found:
                    continue
                for name, value in fields.items():
                    found[target].add(method, name, value)
            for link in parser.links:
                link = urljoin(url, link)
                target = _route_of(link)
                if target is None or target not in found:
                    continue
                for name, value in parse_qsl(urlsplit(link).query, keep_blank_values=True):
                    found[target].add("GET", name, value)
    for route in found:
        found[route].by_method.setdefault("GET", {})
    return found


_crawled: dict[str, Params] = {}


def params_of(world: World, route: str) -> Params:
    """The crawl is done once per session (parameter names and defaults do not depend on
    which world's ids they were rendered with)."""
    if not _crawled:
        _crawled.update(crawl(world))
    return _crawled[route]


# --- the walk ---------------------------------------------------------------------------


@pytest.fixture
def walk_world(world: World) -> Iterator[World]:
    from django.contrib.auth.models import User

    staff = make_user("root", None)
    User.objects.filter(pk=staff.pk).update(is_staff=True, is_superuser=True)
    world.users["staff"] = User.objects.get(pk=staff.pk)
    yield world


def _path_converters(route: str) -> list[tuple[str, str]]:
    """(converter, name) of each parameter in the route."""
    found = [(m.group(1) or "str", m.group(2)) for m in re.finditer(r"<(?:(\w+):)?(\w+)>", route)]
    found += [("path", m.group(1)) for m in re.finditer(r"\(\?P<(\w+)>", route)]
    return found


def _fresh(value: str) -> str:
    """A rendered idempotency key is made new for each request, as a new page view would."""
    try:
        uuid.UUID(value)
    except ValueError:
        return value
    return str(uuid.uuid4())


def _with_path_value(route: str, world: World, name: str, value: str) -> str:
    url = concrete_url(route, world)
    sample = concrete_url(re.sub(rf"<(?:\w+:)?{name}>", "@@", route), world)
    before, _, after = sample.partition("@@")
    assert url.startswith(before)
    return before + quote(value, safe="") + after


def _internal_addresses(world: World) -> list[str]:
    netloc = urlsplit(world.node.url).netloc.rpartition("@")[2]
    host, _, port = netloc.rpartition(":")
    return [netloc, f"{host}:{port}", f":{port}"]


def _check(world: World, role: str, what: str, response: Any, before: int) -> None:
    status = response.status_code
    body = response.content.decode("utf-8", "replace")
    assert status < 500, f"{what}: {status}\n{body[:1500]}"
    done = 300 <= status < 400 or any(h in response for h in DONE_HEADERS)
    if world.position() != before:
        assert done, f"{what}: {status} but an event was appended\n{body[:1500]}"
    if role not in ("admin", "staff"):
        for address in _internal_addresses(world):
            assert address not in body, f"{what}: shows {address} to a {role}"


ROUTES = [route for route, _ in PATTERNS]


def _client(world: World, role: str) -> Any:
    """A client signed in as `role`; a walk through /admin/ may have deleted the user
    (a staff member may delete users), so it is made again."""
    from django.contrib.auth.models import User

    user = world.users.get(role)
    if user is not None and not User.objects.filter(pk=user.pk).exists():
        group = {"viewer": VIEWER, "editor": EDITOR, "owner": EDITOR, "admin": ADMIN}.get(role)
        again = make_user(f"{user.username}-{uuid.uuid4().hex[:6]}", group)
        if role == "staff":
            User.objects.filter(pk=again.pk).update(is_staff=True, is_superuser=True)
        world.users[role] = User.objects.get(pk=again.pk)
    return world.client_for(role, raise_request_exception=False)


def _refused(response: Any) -> bool:
    """An answer that no parameter can change: the sign-in page, 403."""
    location = response.get("Location", "") if response.status_code == 302 else ""
    return response.status_code == 403 or "login/" in location


REQUESTS = {"sent": 0, "examples": 0}


def _send(world: World, role: str, send: Any, url: str, values: Any, htmx: Any, what: str) -> Any:
    before = world.position()
    response = send(url, values, **htmx)
    REQUESTS["sent"] += 1
    _check(world, role, what[:300], response, before)
    return response


@pytest.mark.parametrize("route", ROUTES, ids=[name or route or "root" for route, name in PATTERNS])
@WALK
@given(data=st.data())
def test_walk(walk_world: World, route: str, data: st.DataObject) -> None:
    world = walk_world
    params = params_of(world, route)
    REQUESTS["examples"] += 1
    converters = _path_converters(route)
    for role in WALK_ROLES:
        client = _client(world, role)
        htmx = {"HTTP_HX_REQUEST": "true"} if data.draw(st.booleans(), "htmx") else {}
        url = concrete_url(route, world)
        if _refused(client.get(url, **htmx)):
            # Refused before any input is read: each parameter still gets a hostile value,
            # all of them in one request per method (path parameters too).
            hostile_url = url
            for converter, name in converters:
                value = data.draw(PATH_VALUES.get(converter, PATH_VALUES["str"]), name)
                hostile_url = _with_path_value(route, world, name, value)
            for method, fields in params.by_method.items():
                send = client.get if method == "GET" else client.post
                values = {k: data.draw(HOSTILE, f"{method} {k}") for k in fields}
                what = f"{role} {method} {hostile_url} {values!r}"
                _send(world, role, send, hostile_url, values, htmx, what)
            continue
        for converter, name in converters:
            value = data.draw(PATH_VALUES.get(converter, PATH_VALUES["str"]), name)
            hostile_url = _with_path_value(route, world, name, value)
            _send(world, role, client.get, hostile_url, {}, htmx, f"{role} GET {hostile_url}")
        for method, fields in params.by_method.items():
            send = client.get if method == "GET" else client.post
            for name in fields or [None]:
                values = {k: _fresh(v) for k, v in fields.items()}
                if name is not None:
                    values[name] = data.draw(HOSTILE, f"{method} {name}")
                what = f"{role} {method} {url} {name}={values.get(name)!r}"
                _send(world, role, send, url, values, htmx, what)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    """WALK_REPORT=<file>: the examples run and requests sent, as JSON, for the figures."""
    yield
    path = os.environ.get("WALK_REPORT")
    if path:
        with open(path, "w") as handle:
            json.dump(REQUESTS, handle)


def test_walk_figures(walk_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """How many URL x parameter x role combinations the walk covers (printed with -s)."""
    combos = 0
    params_total = 0
    for route in ROUTES:
        params = params_of(walk_world, route)
        count = len(_path_converters(route)) + sum(
            max(1, len(f)) for f in params.by_method.values()
        )
        params_total += count
        combos += count * len(WALK_ROLES)
    with capsys.disabled():
        print(
            f"\nwalk: {len(ROUTES)} URL patterns, {params_total} parameters, "
            f"{len(WALK_ROLES)} roles: {combos} combinations, {WALK_EXAMPLES} example(s) each"
        )
    assert params_of(walk_world, "kurrent-db-demo/records/new/").by_method.get("POST"), (
        "the crawl found no form fields for record create: the crawl is broken"
    )
    assert combos > len(ROUTES) * len(WALK_ROLES)
