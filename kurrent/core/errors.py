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


class Conflict(KurrentError):
    """Someone changed the record since the version the user saw; nothing was appended.

    `current` holds the record as it is now (its values and its version)."""

    def __init__(self, message: str, current: Any = None, current_version: int | None = None):
        super().__init__(message)
        self.current = current
        self.current_version = current_version
