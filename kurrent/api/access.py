"""What every endpoint asks before it acts: the environment, whether the caller may see
an item (else 404, as for the pages: a private item is not told apart from a missing
one) and whether writes are allowed to them here at all (the pages' rule, from
kurrent.web.context, so both say the same)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kurrent.connection.config import active_environment
from kurrent.core.errors import Forbidden, NotFound
from kurrent.web.context import write_block_reason

T = TypeVar("T")


def current_env() -> str:
    """The API works on the active environment (KURRENTDB_ENVIRONMENT)."""
    return active_environment()


def visible(read: Callable[[], T], missing: str) -> T:
    """`read()`, with the service's Forbidden for someone else's private item as a 404."""
    try:
        return read()
    except Forbidden:
        raise NotFound(missing) from None


def ensure_writable(user: Any, env: str) -> None:
    """The role and production rules of the write forms (a viewer, a non-admin on
    mainnet: 403). Whether KurrentDB answers is left to the write itself (503)."""
    reason = write_block_reason(env, user, state="connected")
    if reason:
        raise Forbidden(reason)
