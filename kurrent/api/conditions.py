"""HTTP's rules for writes and pages, in one place: versions as ETags, If-Match, the
Idempotency-Key of a write, and cursors with their Link headers.

- `ETag` is the version of a record or entry (`"3"`); an update or delete must send it
  back as `If-Match` (428 without it; 412 with the current version and values when it no
  longer matches, which the endpoint learns from the service's Conflict).
- `Idempotency-Key` on a POST (or PATCH/DELETE): the same key with the same method, path
  and body runs the same service call again, which appends nothing the second time (the
  service derives its ids from the key) and answers as the first did; the same key with
  another request is a 409 and reaches no service.
- A cursor is opaque to clients: today it names a page of the service's ordering.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from kurrent.api.models import IdempotencyKey
from kurrent.api.problems import Problem, invalid
from kurrent.core.errors import Conflict, Forbidden, NotFound, ValidationError

IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_KEY = 200
KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII, as a header carries it
ETAG_RE = re.compile(r'^\s*"(\d{1,18})"\s*$')
BARE_VERSION_RE = re.compile(r"^\s*(\d{1,18})\s*$")
# What a write may have been refused for before anything was appended: its key is freed.
REFUSED = (ValidationError, Forbidden, NotFound, Conflict, Problem)


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: HttpResponse, version: int) -> None:
    response["ETag"] = etag(version)


def required_version(if_match: str | None) -> int:
    """The version an update or delete expects, from its If-Match header."""
    if if_match is None or not if_match.strip():
        raise Problem(
            428,
            "precondition-required",
            "If-Match is required: send the ETag of the version you read "
            '(If-Match: "3"), so a change made meanwhile is never overwritten.',
            field="If-Match",
        )
    found = ETAG_RE.match(if_match) or BARE_VERSION_RE.match(if_match)
    if not found:
        raise Problem(
            400,
            "bad-precondition",
            'If-Match must be one ETag of this API, a version in quotes such as "3" '
            "(not *, W/ or a list).",
            field="If-Match",
        )
    return int(found.group(1))


def optional_version(if_match: str | None) -> int | None:
    """As required_version, for writes where If-Match may be left out (a restore)."""
    if if_match is None or not if_match.strip():
        return None
    return required_version(if_match)


def stale(conflict: Conflict, to_json: Any) -> Problem:
    """The 412 for an If-Match that no longer matches: the current version and values."""
    version = conflict.current_version
    current = to_json(conflict.current) if conflict.current is not None else None
    headers = {"ETag": etag(version)} if version is not None else {}
    return Problem(
        412,
        "precondition-failed",
        str(conflict),
        headers=headers,
        current_version=version,
        current=current,
    )


# --- Idempotency-Key ---------------------------------------------------------------


def clean_idempotency_key(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not KEY_RE.match(value):
        raise invalid("Idempotency-Key", f"must be 1-{MAX_KEY} visible ASCII characters")
    return value


def _fingerprint(request: HttpRequest) -> str:
    """The request as far as a replay must match it: method, path and the body's JSON
    (parsed, so spacing and key order do not matter)."""
    try:
        body: Any = json.loads(request.body or b"null")
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError):
        canonical = request.body.decode("utf-8", "replace")
    text = f"{request.method} {request.path}\n{canonical}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@contextlib.contextmanager
def idempotent(request: HttpRequest, user: Any, key: str | None) -> Iterator[bool]:
    """Hold `key` for this request while the write runs; yields True for a replay.

    A key seen with another request raises a 409 Problem. When the write is refused
    (a validation error, a conflict, ...) nothing was appended and the key is freed, so
    it can carry a corrected request."""
    if key is None:
        yield False
        return
    fingerprint = _fingerprint(request)
    now = timezone.now()
    row, created = _claim(user, key, fingerprint, now)
    if not created and row.fingerprint != fingerprint:
        if now - row.created_at < IDEMPOTENCY_TTL:
            raise Problem(
                409,
                "idempotency-key-reused",
                "This Idempotency-Key was used for another request (another method, path "
                "or body); nothing was done. Use a new key for a new request.",
                field="Idempotency-Key",
            )
        IdempotencyKey.objects.filter(pk=row.pk).update(fingerprint=fingerprint, created_at=now)
        created = True
    try:
        yield not created
    except REFUSED:
        if created:
            IdempotencyKey.objects.filter(pk=row.pk, fingerprint=fingerprint).delete()
        raise


def _claim(user: Any, key: str, fingerprint: str, now: Any) -> tuple[IdempotencyKey, bool]:
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.get_or_create(
                user_id=user.pk, key=key, defaults={"fingerprint": fingerprint, "created_at": now}
            )
    except IntegrityError:  # a concurrent request with the same key got there first
        return IdempotencyKey.objects.get(user_id=user.pk, key=key), False


# --- cursors and Link headers -----------------------------------------------------------


def encode_cursor(page: int) -> str:
    raw = json.dumps({"p": page}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The page a cursor names (1 without one); a cursor we did not make is a 422."""
    if not cursor:
        return 1
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        page = value["p"]
        if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= 10**9:
            raise ValueError
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeError):
        raise invalid("cursor", "is not a cursor this API made; use the `next` link") from None
    return page


def page_links(request: HttpRequest, page: Any) -> tuple[str | None, str | None, str]:
    """(next cursor, previous cursor, Link header value) for one page of a service."""
    following = encode_cursor(page.page + 1) if page.has_next else None
    preceding = encode_cursor(page.page - 1) if page.has_previous else None
    links = []
    for rel, cursor in (("first", ""), ("prev", preceding), ("next", following)):
        if cursor is None:
            continue
        links.append(f'<{with_query(request, cursor=cursor or None)}>; rel="{rel}"')
    return following, preceding, ", ".join(links)


def with_query(request: HttpRequest, **changes: Any) -> str:
    """This request's URL (absolute) with some query parameters changed or removed."""
    query = request.GET.copy()
    for name, value in changes.items():
        query.pop(name, None)
        if value is not None:
            query[name] = str(value)
    encoded = query.urlencode() if query else urlencode({})
    return request.build_absolute_uri(request.path + (f"?{encoded}" if encoded else ""))
