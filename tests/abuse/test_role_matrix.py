"""Every URL of the URLconf x every method x every role (anonymous, viewer, editor, admin).

The URL list comes from the URLconf itself, so a new view without a rule here fails
`test_every_url_has_a_rule`. For each cell the expected answer follows from the rule:
the view's roles get its own answers (200, or 400 for an empty form), other signed-in
roles 403, anonymous callers the login page, unknown methods 405; never a 500, and no
request appends an event (empty forms are invalid).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.abuse.conftest import ROLES

METHODS = ("GET", "POST", "PUT", "DELETE")
SIGNED_IN = frozenset({"viewer", "editor", "admin"})
WRITERS = frozenset({"editor", "admin"})
ADMINS = frozenset({"admin"})  # also: the owner of the sample record/entry is not in the matrix
EVERYONE = frozenset(ROLES)


@dataclass(frozen=True)
class Rule:
    """Who may call a view with which method, and what they get."""

    ok: dict[str, frozenset[int]]  # method -> statuses for the allowed roles
    roles: frozenset[str] = SIGNED_IN
    login_required: bool = True
    other_methods: int = 405
    every_method: frozenset[int] = field(default_factory=frozenset)  # e.g. redirects


def GET(*codes: int) -> dict[str, frozenset[int]]:
    return {"GET": frozenset(codes or (200,))}


def GET_POST(get: tuple[int, ...] = (200,), post: tuple[int, ...] = (400,)):
    return {"GET": frozenset(get), "POST": frozenset(post)}


def POST(*codes: int) -> dict[str, frozenset[int]]:
    return {"POST": frozenset(codes or (400,))}


RULES: dict[str, Rule] = {
    # Redirects and pages for anyone.
    "": Rule(ok={}, roles=EVERYONE, login_required=False, every_method=frozenset({302})),
    "login": Rule(
        ok={"GET": frozenset({200, 302}), "POST": frozenset({200})},
        roles=EVERYONE,
        login_required=False,
    ),
    "logout": Rule(ok=POST(302), roles=EVERYONE, login_required=False),
    "kurrent-health": Rule(ok=GET(200), roles=EVERYONE, login_required=False),
    # Outside DEBUG with no METRICS_TOKEN, /metrics is refused to everyone.
    "kurrent-metrics": Rule(ok=GET(403), roles=EVERYONE, login_required=False),
    # The dashboard: reading for every signed-in role.
    "kurrent-dashboard": Rule(ok=GET()),
    "kurrent-status": Rule(ok=GET()),
    "kurrent-owner-suggestions": Rule(ok=GET()),
    "kurrent-record": Rule(ok=GET()),
    "kurrent-record-version": Rule(ok=GET()),
    "kurrent-record-diff": Rule(ok=GET()),
    "kurrent-userdata": Rule(ok=GET()),
    "kurrent-entry": Rule(ok=GET()),
    "kurrent-entry-version": Rule(ok=GET()),
    "kurrent-entry-diff": Rule(ok=GET()),
    "kurrent-directory": Rule(ok=GET()),
    "kurrent-activity": Rule(ok=GET()),
    "kurrent-activity-new": Rule(ok=GET(200, 204)),
    # Writing: editors and admins; others' records and entries: admins only.
    "kurrent-record-create": Rule(ok=POST(), roles=WRITERS),
    "kurrent-entry-create": Rule(ok=POST(), roles=WRITERS),
    "kurrent-record-edit": Rule(ok=GET_POST(), roles=ADMINS),
    "kurrent-record-delete": Rule(ok=GET_POST(), roles=ADMINS),
    "kurrent-entry-edit": Rule(ok=GET_POST(), roles=ADMINS),
    "kurrent-entry-delete": Rule(ok=GET_POST(), roles=ADMINS),
    "kurrent-entry-visibility": Rule(ok=POST(), roles=ADMINS),
    # Restore answers with the item's page and a message (here: an empty form).
    "kurrent-record-restore": Rule(ok=POST(302), roles=ADMINS),
    "kurrent-entry-restore": Rule(ok=POST(302), roles=ADMINS),
    # Admin pages.
    "kurrent-switch-env": Rule(ok=POST(), roles=ADMINS),
    "kurrent-status-check": Rule(ok=POST(302), roles=ADMINS),  # no fields: probes, back
    "kurrent-users": Rule(ok=GET(), roles=ADMINS),
    "kurrent-user-data": Rule(ok=GET(), roles=ADMINS),
    "kurrent-user-erase": Rule(ok=GET_POST(), roles=ADMINS),
    "kurrent-events": Rule(ok=GET(), roles=ADMINS),
    # API tokens: everyone signed in makes and revokes their own (an empty form is a 400;
    # revoking a token that is not theirs says so and goes back to the page).
    "kurrent-tokens": Rule(ok=GET_POST()),
    "kurrent-token-revoke": Rule(ok=POST(302)),
    # Schemas: everyone signed in reads them; replacing one is for admins.
    "kurrent-schemas": Rule(ok=GET()),
    "kurrent-schema": Rule(ok=GET()),
    "kurrent-schema-replace": Rule(ok=POST(), roles=ADMINS),
}
# Django's admin site needs is_staff, which none of the four roles has: every request
# is sent to its sign-in page (302), whatever the method. That page sends anonymous
# callers on to ours (302) and tells signed-in ones that they may not use it (403).
DJANGO_ADMIN = Rule(ok={}, roles=EVERYONE, login_required=False, every_method=frozenset({302}))
ADMIN_LOGIN = Rule(
    ok={method: frozenset({302}) for method in METHODS},
    roles=frozenset({"anonymous"}),
    login_required=False,
)


def url_patterns() -> list[tuple[str, str | None]]:
    """(route, name) of every URL pattern, nested includes flattened."""

    def walk(patterns, prefix: str, namespace: str | None):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = namespace
                if p.namespace:
                    ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
                yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                name = f"{namespace}:{p.name}" if namespace and p.name else p.name
                yield prefix + str(p.pattern), name

    return list(walk(get_resolver().url_patterns, "", None))


# The JSON API answers 401 and problem+json, not the login page: tests/api covers every
# endpoint for every role (contract tests) and the schema-driven fuzz run.
PATTERNS = [(route, name) for route, name in url_patterns() if not route.startswith("api/v1/")]


def rule_for(route: str, name: str | None) -> Rule | None:
    if route == "admin/login/":
        return ADMIN_LOGIN
    if route.startswith("admin/"):
        return DJANGO_ADMIN
    return RULES.get(name or route)


def concrete_url(route: str, world) -> str:
    """The route with sample values: the world's record, entry and owner."""
    samples = {
        "record_id": world.record.id,
        "entry_id": world.entry.id,
        "entry_type": "preferences",
        "user_id": str(world.users["owner"].pk),
        "version": "0",
        "token_id": "1",
        "object_id": "1",
        "content_type_id": "1",
        "id": "1",
        "app_label": "auth",
        "url": "no-such-page/",
        "env": "dev",
    }

    def sample(match: re.Match) -> str:
        return samples[match.group("name")]

    url = re.sub(r"<(?:\w+:)?(?P<name>\w+)>", sample, route)
    url = re.sub(r"\(\?P<(?P<name>\w+)>[^)]*\)", sample, url)
    return "/" + url.replace("^", "").replace("$", "")


def test_every_url_has_a_rule():
    missing = [name or route for route, name in PATTERNS if rule_for(route, name) is None]
    assert not missing, f"add a rule to RULES for: {missing}"
    stale = set(RULES) - {name or route for route, name in PATTERNS}
    assert not stale, f"RULES names URLs that no longer exist: {stale}"


def expected(rule: Rule, method: str, role: str) -> frozenset[int] | str:
    if rule.every_method:
        return rule.every_method
    if rule.login_required and role == "anonymous":
        return "login"
    if method not in rule.ok:
        return frozenset({rule.other_methods})
    if role not in rule.roles:
        return frozenset({403})
    return rule.ok[method]


@pytest.mark.parametrize(
    ("route", "name"), PATTERNS, ids=[name or route or "root" for route, name in PATTERNS]
)
def test_role_by_method(world, route, name):
    rule = rule_for(route, name)
    assert rule is not None, f"no rule for {name or route}"
    url = concrete_url(route, world)
    before = world.position()
    problems = []
    for role in ROLES:
        for method in METHODS:
            client = world.client_for(role)
            response = getattr(client, method.lower())(url)
            want = expected(rule, method, role)
            got = response.status_code
            if want == "login":
                if got != 302 or not response["Location"].startswith("/accounts/login/?next="):
                    problems.append(f"{role} {method} {url}: {got}, expected the login redirect")
            elif got not in want:
                problems.append(f"{role} {method} {url}: {got}, expected {sorted(want)}")
    assert not problems, "\n".join(problems)
    assert world.position() == before, f"a request to {url} appended an event"
