"""Sign-in throttling: after MAX_FAILURES failed attempts for one username from
one address within WINDOW, that pair is locked out for LOCKOUT.

While locked, the password is not even checked, so guessing gains nothing.
A successful sign-in clears the count.

The count is kept per user name *as Django authenticates it*, not as typed:
Django's UsernameField strips the name and NFKC-normalises it before the password
is checked, so `bob` in fullwidth letters, ` bob ` and `bob` are one account and must share
one count. The key is that name, also case-folded (more spellings share a count than
name one account, never fewer), per client address. django-axes was considered: it
keys on the raw POSTed name unless given its own callable, so it would need this
same function and a second set of tables.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import LoginThrottle

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)


def _key(username: str) -> str:
    """One key for every spelling Django would authenticate as the same name.

    As django.contrib.auth.forms.UsernameField: strip, then NFKC; then strip again
    (what NFKC turns into white space), case-fold and NFKC once more (case-folding
    can undo NFKC). NUL, which no form accepts nor every database stores, is dropped."""
    name = unicodedata.normalize("NFKC", str(username).strip()).strip()
    name = unicodedata.normalize("NFKC", name.casefold()).strip()
    return name.replace("\x00", "")[: LoginThrottle._meta.get_field("username").max_length]


def locked_for(username: str, ip: str, now: datetime | None = None) -> int:
    """Seconds left on the lockout of (username, ip); 0 when not locked."""
    now = now or timezone.now()
    row = LoginThrottle.objects.filter(username=_key(username), ip=ip).first()
    if row is None or row.locked_until is None or row.locked_until <= now:
        return 0
    return max(1, int((row.locked_until - now).total_seconds()))


def record_failure(username: str, ip: str, now: datetime | None = None) -> int:
    """Count one failed attempt; returns the lockout in seconds it caused (0 if none)."""
    now = now or timezone.now()
    with transaction.atomic():
        row, _ = LoginThrottle.objects.select_for_update().get_or_create(
            username=_key(username), ip=ip, defaults={"first_failure_at": now}
        )
        if row.first_failure_at < now - WINDOW or (
            row.locked_until is not None and row.locked_until <= now
        ):
            # The old failures are out of the window (or their lockout has been
            # served): start counting afresh.
            row.failures = 0
            row.first_failure_at = now
            row.locked_until = None
        row.failures += 1
        if row.failures >= MAX_FAILURES:
            row.locked_until = now + LOCKOUT
        row.save()
    return int(LOCKOUT.total_seconds()) if row.locked_until else 0


def clear(username: str, ip: str) -> None:
    LoginThrottle.objects.filter(username=_key(username), ip=ip).delete()


def describe_wait(seconds: int) -> str:
    """'15 minutes', '1 minute', '40 seconds': how long until the next try."""
    if seconds >= 60:
        minutes = -(-seconds // 60)  # round up: never tell someone to come back too early
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
