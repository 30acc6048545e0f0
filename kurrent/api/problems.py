"""Errors as RFC 9457 `application/problem+json`, and the one place that maps the
services' typed errors (kurrent.core.errors) to HTTP statuses for the API.

Every problem has `type`, `title`, `status`, `detail` and `instance` (the path asked
for); a validation problem also names the `field` and lists every `errors` entry as
{field, message}. A 412 carries `current_version` and `current` (the values now).
The `type` URIs are relative to the API (`/api/v1/problems/<name>`) and listed in
README.md; none of them is fetched by anything.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as SchemaValidationError
from ninja.responses import NinjaJSONEncoder

from kurrent.core.errors import (
    Conflict,
    Forbidden,
    KurrentBusy,
    KurrentUnavailable,
    NotConfigured,
    NotFound,
    ValidationError,
)

log = logging.getLogger("kurrent.api")

PROBLEM_JSON = "application/problem+json"
PREFIX = "/api/v1/"
PROBLEM_BASE = PREFIX + "problems/"
TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request too large",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
}
UNAVAILABLE = (KurrentUnavailable, KurrentBusy, NotConfigured)


class Problem(Exception):
    """An API answer that is a problem: raise it anywhere in an endpoint."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    request: HttpRequest,
    status: int,
    kind: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> HttpResponse:
    body = {
        "type": PROBLEM_BASE + kind,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False, cls=NinjaJSONEncoder),
        status=status,
        content_type=PROBLEM_JSON,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    patch_vary_headers(response, ("Authorization", "Cookie"))
    return response


def retry_after_seconds() -> str:
    """How long a client should wait before asking again: one health-probe interval."""
    return str(max(1, math.ceil(settings.KURRENTDB_SYNC_INTERVAL_MS / 1000)))


def invalid(field: str, message: str) -> Problem:
    return Problem(
        422,
        "validation-error",
        f"{field}: {message}",
        field=field,
        errors=[{"field": field, "message": message}],
    )


def _schema_field(loc: list[Any] | tuple[Any, ...]) -> str:
    """A pydantic error location as the field a client sent: ("body", "payload", "tags",
    0) -> "tags[0]"; ("header", "if-match") -> "If-Match"; ("query", "limit") -> "limit"."""
    parts = list(loc)
    source = parts.pop(0) if parts else ""
    if source == "body" and parts and parts[0] == "payload":
        parts.pop(0)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    if source == "header":
        name = "-".join(w.capitalize() for w in name.replace("_", "-").split("-"))
    return name or "body"


def install(api: Any) -> None:
    """Register the handlers on a NinjaAPI."""

    def handle(exc_class: type[Exception]) -> Any:
        def register(func: Any) -> Any:
            api.add_exception_handler(exc_class, func)
            return func

        return register

    @handle(Problem)
    def _problem(request: HttpRequest, exc: Problem) -> HttpResponse:
        return problem_response(request, exc.status, exc.kind, exc.detail, exc.headers, **exc.extra)

    @handle(SchemaValidationError)
    def _schema(request: HttpRequest, exc: SchemaValidationError) -> HttpResponse:
        errors = []
        for error in exc.errors:
            if error.get("type") == "json_invalid":
                return problem_response(
                    request, 400, "malformed-body", "The body is not valid JSON.", field="body"
                )
            message = str(error.get("msg", "is invalid"))
            errors.append({"field": _schema_field(error.get("loc", ())), "message": message})
        first = errors[0] if errors else {"field": "body", "message": "is invalid"}
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "Invalid input."
        return problem_response(
            request, 422, "validation-error", detail, field=first["field"], errors=errors
        )

    @handle(ValidationError)
    def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return _problem(request, invalid(exc.field, exc.message))

    @handle(NotFound)
    def _not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
        return problem_response(request, 404, "not-found", str(exc) or "Not found.")

    @handle(Forbidden)
    def _forbidden(request: HttpRequest, exc: Forbidden) -> HttpResponse:
        return problem_response(request, 403, "forbidden", str(exc) or "Forbidden.")

    @handle(Conflict)
    def _conflict(request: HttpRequest, exc: Conflict) -> HttpResponse:
        return problem_response(request, 409, "conflict", str(exc))

    for unavailable in UNAVAILABLE:

        @handle(unavailable)
        def _unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
            return problem_response(
                request,
                503,
                "unavailable",
                str(exc) or "KurrentDB cannot be reached now; nothing was changed.",
                {"Retry-After": retry_after_seconds()},
            )

    @handle(AuthenticationError)
    def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        detail = exc.message if exc.message != "Unauthorized" else ""
        return problem_response(
            request,
            401,
            "unauthenticated",
            detail or "Send `Authorization: Bearer <token>`, or sign in (session and CSRF).",
            {"WWW-Authenticate": 'Bearer realm="penguinpool"'},
        )

    @handle(Throttled)
    def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
        wait = max(1, math.ceil(exc.wait)) if exc.wait else 1
        return problem_response(
            request,
            429,
            "rate-limited",
            f"Too many requests with this token; try again in {wait} s.",
            {"Retry-After": str(wait)},
        )

    @handle(HttpError)
    def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if exc.status_code == 400 and "parse request body" in exc.message:
            return problem_response(
                request, 400, "malformed-body", "The body is not valid JSON.", field="body"
            )
        kind = "forbidden" if exc.status_code == 403 else "http-error"
        return problem_response(request, exc.status_code, kind, exc.message)

    @handle(Exception)
    def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        from django.core.exceptions import RequestDataTooBig
        from django.db import DatabaseError
        from django.http import Http404

        if isinstance(exc, Http404):
            return problem_response(request, 404, "not-found", "Not found.")
        if isinstance(exc, RequestDataTooBig):
            return problem_response(
                request, 413, "too-large", "The request body is too large.", field="body"
            )
        if isinstance(exc, DatabaseError):
            log.warning("API request failed on the database: %s", exc)
            return problem_response(
                request,
                503,
                "unavailable",
                "The database is busy; nothing was changed. Try again.",
                {"Retry-After": "1"},
            )
        log.exception("API request failed")
        return problem_response(request, 500, "internal-error", "Something went wrong.")


def api_errors_middleware(get_response: Any) -> Any:
    """Under /api/v1/, answers made outside the API's handlers (no such URL: Django's 404
    page; a method the path has not: ninja's plain 405) become problems too."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if (
            response.status_code in (404, 405)
            and request.path.startswith(PREFIX)
            and not response.get("Content-Type", "").startswith(("application/", "text/json"))
        ):
            detail = (
                f"There is no {request.method} on this path."
                if response.status_code == 405
                else "There is no such endpoint; see /api/v1/docs."
            )
            kind = "method-not-allowed" if response.status_code == 405 else "not-found"
            headers = {"Allow": response["Allow"]} if response.has_header("Allow") else {}
            return problem_response(request, response.status_code, kind, detail, headers)
        return response

    return middleware
