"""What every view module shares about HTTP: the typed request, login for htmx
requests, the few response helpers whose rules must not drift apart, and the
middleware that marks signed-in answers private."""

from __future__ import annotations

from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required as django_login_required
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    user: AbstractBaseUser


def private_cache_middleware(get_response: Any) -> Any:
    """Every answer to a signed-in user says `Cache-Control: private`: it shows their
    data, role and CSRF token, so no shared cache (a proxy, a CDN) may keep it for
    anyone else. Directives a view set (never_cache's no-store, max-age) are kept;
    `public` gives way. Goes after AuthenticationMiddleware."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True)
        return response

    return middleware


def login_required(view: Any) -> Any:
    """Django's login_required, except that an htmx request (a poll, a search)
    from a signed-out browser gets HX-Redirect to the login page: following a
    302 would swap the login page into a panel instead."""
    wrapped = django_login_required(view)

    @wraps(view)
    def check(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.htmx and not request.user.is_authenticated:
            here = request.htmx.current_url_abs_path or reverse("kurrent-dashboard")
            return HttpResponseClientRedirect(f"{reverse('login')}?{urlencode({'next': here})}")
        return wrapped(request, *args, **kwargs)

    return check


def done(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """After a successful write: a redirect, which htmx follows as a full page load."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def safe_next(request: HttpRequest, target: str | None, default: str) -> str:
    """`target` when it points back into this site, else `default` (no open redirect)."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def query_string(values: dict[str, Any], **changes: Any) -> str:
    """A list's query string with some values changed; defaults are left out, so a
    link reproduces the view with the shortest URL."""
    merged = {**values, **changes}
    query = QueryDict(mutable=True)
    for key in ("q", "tag", "owner", "type", "size", "page"):
        value = merged.get(key)
        if value in (None, "") or (key == "page" and value == 1):
            continue
        query[key] = str(value)
    return query.urlencode()
