"""The JSON Schemas of the user-data types: every signed-in user reads them (what each
type may hold), admins replace one; each version is kept as an event of its stream."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from kurrent.core.domain import ENTRY_TYPES
from kurrent.services import roles, schemas
from kurrent.web import context as web
from kurrent.web.forms import SchemaForm, new_idempotency_key, retry_form
from kurrent.web.http import HtmxHttpRequest, done, login_required
from kurrent.web.outcomes import UNAVAILABLE, form_status, submit, unreadable_message


@login_required
@require_GET
def schema_list(request: HtmxHttpRequest) -> HttpResponse:
    env = web.current_env(request)
    try:
        current = schemas.all_current(env)
    except UNAVAILABLE as exc:
        ctx = {"env": env, "message": unreadable_message(env, exc)}
        return render(request, "kurrent/unavailable.html", ctx, status=503)
    return render(
        request, "kurrent/schemas.html", {"page": "schemas", "env": env, "current": current}
    )


def _history(request: HtmxHttpRequest, env: str, entry_type: str) -> list[Any]:
    if entry_type not in ENTRY_TYPES:
        raise Http404("No such type")
    return schemas.schema_history(request.user, entry_type, env=env)


def _page(
    request: HtmxHttpRequest, env: str, entry_type: str, history: list[Any], form: Any, **extra: Any
) -> dict[str, Any]:
    return {
        "page": "schemas",
        "env": env,
        "entry_type": entry_type,
        "current": history[-1],
        "history": list(reversed(history)),
        "form": form,
        "can_replace": roles.is_admin(request.user),
        "write_blocked": web.write_block_reason(env, request.user),
        **extra,
    }


def _unavailable(request: HtmxHttpRequest, env: str, exc: Exception) -> HttpResponse:
    ctx = {"env": env, "message": unreadable_message(env, exc)}
    return render(request, "kurrent/unavailable.html", ctx, status=form_status(request, 503))


@login_required
@require_GET
def schema_detail(request: HtmxHttpRequest, entry_type: str) -> HttpResponse:
    """The type's schema in force, its history, and for admins the form to replace it."""
    env = web.current_env(request)
    try:
        history = _history(request, env, entry_type)
    except UNAVAILABLE as exc:
        return _unavailable(request, env, exc)
    current = history[-1]
    form = SchemaForm(
        initial={
            "schema": current.text,
            "expected_version": current.version,
            "idempotency_key": new_idempotency_key(),
        }
    )
    return render(request, "kurrent/schema.html", _page(request, env, entry_type, history, form))


@login_required
@require_POST
def schema_replace(request: HtmxHttpRequest, entry_type: str) -> HttpResponse:
    """Admins: replace the type's schema (SchemaReplaced) against the version seen."""
    if not roles.is_admin(request.user):
        raise PermissionDenied("Only an admin may replace a schema.")
    env = web.current_env(request)
    if entry_type not in ENTRY_TYPES:
        raise Http404("No such type")
    form = SchemaForm(request.POST)

    def replace(data: dict[str, Any]) -> Any:
        return schemas.replace_schema(
            request.user,
            entry_type,
            data["schema"],
            expected_version=data["expected_version"],
            idempotency_key=str(data["idempotency_key"]),
            env=env,
        )

    outcome = submit(form, replace, env=env, blocked=web.write_block_reason(env, request.user))
    if outcome.done:
        messages.success(
            request,
            f"The {entry_type} schema is now version {outcome.result.version}. "
            "Entries stored before it keep their values and show a notice.",
        )
        return done(request, reverse("kurrent-schema", args=[entry_type]))
    conflict = None
    if outcome.conflict is not None:
        conflict = outcome.conflict.current
        form = retry_form(SchemaForm, request.POST, conflict.version)
    try:
        history = _history(request, env, entry_type)
    except UNAVAILABLE as exc:
        return _unavailable(request, env, exc)
    ctx = _page(request, env, entry_type, history, form, conflict=conflict)
    if request.htmx:
        return render(request, "kurrent/schema.html#schema-form", ctx)
    return render(request, "kurrent/schema.html", ctx, status=outcome.status_for(request))
