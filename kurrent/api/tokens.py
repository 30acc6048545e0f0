"""API tokens: made, listed and revoked by their owner (admins: anyone's), checked per request.

A token is `ppk_` and 43 URL-safe random characters (256 bits). Only its SHA-256 is
stored, so a copy of the database lets no one sign in; a secret that high in entropy
needs no slow hash (that is for guessable passwords), and looking it up by its hash is
one indexed query. The secret is returned once, by `create_token`, and never again.

A token acts as its user, with the user's role; its scope narrows that further:
`read` tokens may only read, `read-write` ones may do what the role allows.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.backends import CachedModelBackend
from kurrent.api.models import SCOPE_READ, SCOPE_READ_WRITE, SCOPES, ApiToken
from kurrent.core.errors import NotFound, ValidationError
from kurrent.services.roles import can_read, is_admin

PREFIX = "ppk_"
MAX_NAME = 100
MAX_TOKENS_PER_USER = 50
# last_used_at is written at most this often per token: a write per request would
# cost more than the request itself.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# A token found is reused in this process for this long (as the sign-in backend reuses a
# user): the query per request was a third of a GET's time. Revoking drops it here at
# once; other processes stop accepting it within this time.
TOKEN_CACHE_SECONDS = 2.0

_backend = CachedModelBackend()
_lock = threading.Lock()
_found: dict[str, tuple[float, ApiToken]] = {}


def forget_tokens() -> None:
    """Drop every token kept in this process (tests; after a bulk change)."""
    with _lock:
        _found.clear()


@dataclass(frozen=True)
class NewToken:
    """A token just made: `secret` is what the caller sends, shown this one time."""

    token: ApiToken
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _require_owner_or_admin(actor: Any, owner: Any) -> None:
    if not can_read(actor) or (actor.pk != owner.pk and not is_admin(actor)):
        raise NotFound("There is no such user.")


def create_token(
    actor: Any,
    *,
    name: str,
    scope: str = SCOPE_READ,
    expires_at: datetime | None = None,
    owner: Any = None,
) -> NewToken:
    """A new token for `owner` (default: the actor; another user: admins only)."""
    owner = owner if owner is not None else actor
    _require_owner_or_admin(actor, owner)
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name", "must not be empty")
    name = name.strip()
    if len(name) > MAX_NAME or any(ord(ch) < 32 for ch in name):
        raise ValidationError("name", f"must be at most {MAX_NAME} printable characters")
    if scope not in dict(SCOPES):
        raise ValidationError("scope", f"must be {SCOPE_READ} or {SCOPE_READ_WRITE}")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ValidationError("expires_at", "must be in the future")
    live = ApiToken.objects.filter(user=owner, revoked_at__isnull=True)
    if live.count() >= MAX_TOKENS_PER_USER:
        raise ValidationError("name", f"at most {MAX_TOKENS_PER_USER} tokens; revoke one first")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=owner,
        name=name,
        scope=scope,
        hint=secret[len(PREFIX) : len(PREFIX) + 6],
        secret_hash=hash_secret(secret),
        created_at=now,
        expires_at=expires_at,
    )
    return NewToken(token=token, secret=secret)


def tokens_for(actor: Any, *, everyone: bool = False) -> list[ApiToken]:
    """The actor's tokens, newest first; with `everyone`, an admin sees all users'."""
    qs = ApiToken.objects.select_related("user").order_by("-created_at", "-id")
    if not (everyone and is_admin(actor)):
        qs = qs.filter(user_id=actor.pk)
    return list(qs)


def revoke_token(actor: Any, token_id: Any) -> ApiToken:
    """Revoke one token of the actor's (admins: anyone's); NotFound for any other id."""
    try:
        token = ApiToken.objects.select_related("user").get(pk=int(token_id))
    except (ValueError, TypeError, OverflowError, ApiToken.DoesNotExist):
        raise NotFound("There is no such token.") from None
    if token.user_id != actor.pk and not is_admin(actor):
        raise NotFound("There is no such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    with _lock:
        _found.pop(token.secret_hash, None)
    return token


def is_live(token: ApiToken, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > now)


def authenticate(secret: str) -> tuple[ApiToken, Any] | None:
    """The live token with this secret and its (active) user, else None.

    The token is kept in this process for TOKEN_CACHE_SECONDS, the user comes from the
    sign-in backend's cache of the same length: a request of a busy token costs no query
    (last_used_at aside, written once a minute)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    clock = time.monotonic()
    with _lock:
        hit = _found.get(digest)
    if hit is not None and clock - hit[0] < TOKEN_CACHE_SECONDS:
        token = hit[1]
    else:
        token = next(iter(ApiToken.objects.filter(secret_hash=digest)[:1]), None)  # unique
        if token is None:
            return None
        with _lock:
            if len(_found) > 10_000:  # bounded: a flood of tokens cannot grow it forever
                _found.clear()
            _found[digest] = (clock, token)
    now = timezone.now()
    if not is_live(token, now):
        return None
    user = _backend.get_user(token.user_id)
    if user is None or not user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token, user


def user_by_name(username: Any) -> Any:
    """The user called `username`, or NotFound."""
    if not isinstance(username, str):
        raise NotFound("There is no such user.")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound("There is no such user.")
    return user
