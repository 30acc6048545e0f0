"""Who is asking: a bearer token (kurrent.api.tokens), or for same-origin scripts the
browser's session with its CSRF token. And how often they may ask: a rate limit per
token (or per signed-in user), with django-ninja's throttle.

`request.auth` is the ApiToken (or None for a session); `request.user` the user either
way, so the services see the same actor as the pages and kurrent.web.http's middleware
marks the answer `Cache-Control: private`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.throttling import SimpleRateThrottle
from ninja.utils import check_csrf

from kurrent.api import tokens
from kurrent.api.models import SCOPE_READ
from kurrent.api.problems import Problem

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _check_scope(request: HttpRequest, token: Any) -> None:
    if token.scope == SCOPE_READ and request.method not in SAFE_METHODS:
        raise Problem(
            403, "forbidden", "This token's scope is read: it may read but not change data."
        )


class BearerToken(HttpBearer):
    """`Authorization: Bearer ppk_…`. A bearer header that names no live token is a 401
    at once, never a fall-back to the session: a script should learn its token is bad."""

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get("Authorization", "")
        if header and not header.lower().startswith("bearer "):
            raise AuthenticationError(message="Only `Authorization: Bearer <token>` is accepted.")
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = tokens.authenticate(token.strip())
        if found is None:
            raise AuthenticationError(message="The token is unknown, expired or revoked.")
        api_token, user = found
        request.user = user
        request.api_token = api_token  # type: ignore[attr-defined]
        _check_scope(request, api_token)
        return api_token


class SessionWithCsrf(APIKeyCookie):
    """The signed-in browser session; writes need the CSRF token (`X-CSRFToken`), checked
    by Django's own middleware logic (origin, referer and token)."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=False)  # checked below, after we know who it is

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise Problem(
                403,
                "csrf-failed",
                "A session request that changes data needs the CSRF token "
                "(header X-CSRFToken) from this site; or use a bearer token.",
            )
        request.api_token = None  # type: ignore[attr-defined]
        return user


class PerTokenThrottle(SimpleRateThrottle):
    """API_RATE_LIMIT (e.g. "600/min") per token, or per user for session requests: a
    sliding window of the times of the last requests, as django-ninja's throttles keep it.

    ninja's SimpleRateThrottle keeps the request being judged on the throttle object,
    which every thread of a process shares; this one keeps it in locals (and the wait
    for Retry-After in a thread-local), so concurrent requests never mix their counts.
    Counted in the Django cache named by API_RATE_LIMIT_CACHE: the default in-memory
    cache counts per process; name a shared one (database, Redis, Memcached) when
    several app processes serve the API. Settings are read per request."""

    scope = "api"

    def __init__(self) -> None:
        super().__init__(rate=settings.API_RATE_LIMIT)
        self._local = threading.local()

    def allow_request(self, request: HttpRequest) -> bool:
        key = self.get_cache_key(request)
        self._local.wait = None
        if key is None:
            return True
        count, duration = self.parse_rate(settings.API_RATE_LIMIT)
        assert count is not None and duration is not None
        cache = caches[settings.API_RATE_LIMIT_CACHE]
        now = time.time()
        history = [t for t in cache.get(key, []) if t > now - duration]
        if len(history) >= count:
            self._local.wait = max(0.0, history[-1] + duration - now) if history else duration
            return False
        cache.set(key, [now, *history[: count - 1]], duration)
        return True

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)

    def get_cache_key(self, request: HttpRequest) -> str | None:
        token = getattr(request, "api_token", None)
        if token is not None:
            ident = f"token-{token.pk}"
        elif getattr(request, "user", None) is not None and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


def actor(request: HttpRequest) -> Any:
    """The user the services act for."""
    return request.user
