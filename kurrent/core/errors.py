"""Errors the services raise, for views to turn into messages and status codes.

Every message is safe to show to a user: no credentials, no connection strings
with passwords, no tracebacks.
"""

from __future__ import annotations

from typing import Any


class KurrentError(Exception):
    """Base of every error the kurrent services raise on purpose."""


class KurrentUnavailable(KurrentError):
    """The environment's KurrentDB cannot be reached now (down, backing off, timed out)."""


class KurrentTimeout(KurrentUnavailable):
    """KurrentDB did not answer in time. Unlike a refused connection, a write may have
    been stored: say so, never "nothing was saved"."""


class StreamUnreadable(KurrentError):
    """KurrentDB answered a read of one stream with something the client or the app could
    not handle (an event too large for the client, say). That stream only: the
    environment is not down, other streams read as usual."""


class KurrentBusy(KurrentError):
    """Too many long-running reads or subscriptions are open for this environment."""


class NotConfigured(KurrentError):
    """The environment has no connection string."""


class ValidationError(KurrentError):
    """Bad input; `field` names what was wrong. Nothing was appended."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(KurrentError):
    """No such record or entry (or it is deleted)."""


class Forbidden(KurrentError):
    """The actor may not do this."""


class Private(Forbidden):
    """Someone else's private record or entry: shown as not found (404), so a guessed id
    does not reveal that it exists."""


class AlreadySubmitted(KurrentError):
    """This form (its idempotency key) was submitted before with other content; nothing
    was appended. `current` holds what the first submission saved."""

    def __init__(self, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.current = current


class Conflict(KurrentError):
    """Someone changed the record since the version the user saw; nothing was appended.

    `current` holds the record as it is now (its values and its version)."""

    def __init__(self, message: str, current: Any = None, current_version: int | None = None):
        super().__init__(message)
        self.current = current
        self.current_version = current_version
