"""Restore from a page: the one POST handler behind a deleted record's and a deleted
entry's Restore button (owner or admin; a StreamRestored / UserDataRestored event)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse

from kurrent.web import context as web
from kurrent.web.access import can_edit
from kurrent.web.forms import DeleteForm
from kurrent.web.http import HtmxHttpRequest, done
from kurrent.web.outcomes import submit


def restore_from_page(
    request: HtmxHttpRequest,
    env: str,
    state: Any,
    *,
    noun: str,
    label: str,
    restore: Callable[..., Any],
    page_url: str,
) -> HttpResponse:
    """Check the actor may restore `state`, call `restore(actor, expected_version=,
    idempotency_key=, env=)` through the form pipeline, say how it went and go back to
    `page_url`."""
    if not can_edit(request.user, state):
        raise PermissionDenied(f"Only the owner (or an admin) may restore this {noun}.")
    form = DeleteForm(request.POST)  # the same two fields: the version seen and a key

    def call(data: dict[str, Any]) -> Any:
        return restore(
            request.user,
            expected_version=data["expected_version"],
            idempotency_key=str(data["idempotency_key"]),
            env=env,
        )

    blocked = web.write_block_reason(env, request.user)
    outcome = submit(form, call, env=env, blocked=blocked)
    if outcome.done:
        messages.success(request, f"Restored {label}.")
    elif outcome.conflict is not None:
        messages.error(request, "It changed meanwhile: this is how it is now. Restore again?")
    else:
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
    return done(request, page_url)
