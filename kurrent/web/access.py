"""Loading what a view shows, with its access check: the services answer NotFound or
Forbidden, and a view turns them into 404 and 403 here, in one place.

`get_*` may read; `get_rw_*` may change (owners and admins; viewers never).

Another user's private record or entry is a 404, the same page as an id that never
existed, so a guessed id does not tell whether something is there. 403 is kept for
what the user can see but not do: changing a visible item they do not own."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from kurrent.core.errors import Forbidden, KurrentBusy, NotFound, ValidationError
from kurrent.services import records, roles, userdata
from kurrent.web.http import HtmxHttpRequest
from kurrent.web.outcomes import UNAVAILABLE


def can_edit(user: Any, item: Any) -> bool:
    """Admins change anything; editors their own records and entries."""
    return roles.is_admin(user) or (roles.can_write(user) and item.owner_id == user.pk)


def admin_only(request: HtmxHttpRequest) -> None:
    if not roles.is_admin(request.user):
        raise PermissionDenied("Admins only.")


def get_record(request: HtmxHttpRequest, env: str, record_id: str) -> Any:
    try:
        return records.get_record(request.user, record_id, env=env)
    except (NotFound, Forbidden):  # Forbidden: someone else's private record
        raise Http404("No such record") from None


def get_record_or_deleted(request: HtmxHttpRequest, env: str, record_id: str) -> Any:
    """The record, or its last state if it was deleted: a deleted record keeps its
    page, read-only, because its history is kept. Never-existing ids are 404."""
    try:
        return get_record(request, env, record_id)
    except Http404:
        try:
            history = records.record_history(request.user, record_id, env=env)
            return records.record_at_version(request.user, record_id, history[-1].version, env=env)
        except (NotFound, Forbidden, ValidationError, IndexError):
            raise Http404("No such record") from None
        except KurrentBusy:
            raise  # 503 + Retry-After (kurrent.web.failures)
        except UNAVAILABLE:
            raise Http404("No such record (KurrentDB cannot be asked now)") from None


def get_rw_record(request: HtmxHttpRequest, env: str, record_id: str) -> Any:
    record = get_record(request, env, record_id)
    if not can_edit(request.user, record):
        raise PermissionDenied("Only the owner (or an admin) may change this record.")
    return record


def get_entry(request: HtmxHttpRequest, env: str, entry_id: str) -> Any:
    try:
        return userdata.get_entry(request.user, entry_id, env=env)
    except (NotFound, Forbidden):  # Forbidden: someone else's private entry
        raise Http404("No such entry") from None


def get_rw_entry(request: HtmxHttpRequest, env: str, entry_id: str) -> Any:
    entry = get_entry(request, env, entry_id)
    if not can_edit(request.user, entry):
        raise PermissionDenied("Only the owner (or an admin) may change this entry.")
    return entry


def get_entry_or_deleted(request: HtmxHttpRequest, env: str, entry_id: str) -> Any:
    """The entry, or its last state if it was deleted (as get_record_or_deleted)."""
    try:
        return get_entry(request, env, entry_id)
    except Http404:
        try:
            history = userdata.entry_history(request.user, entry_id, env=env)
            return userdata.entry_at_version(request.user, entry_id, history[-1].version, env=env)
        except (NotFound, Forbidden, ValidationError, IndexError):
            raise Http404("No such entry") from None
        except UNAVAILABLE:
            raise Http404("No such entry (KurrentDB cannot be asked now)") from None
