"""One user-data entry's page: its value, its history (read from its stream), any past
version, a diff between versions, and Restore once deleted. The same partials as a
record's page (partials/history.html, restore.html, the diff table of record_diff.html).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from kurrent.core.errors import Forbidden, NotFound, ValidationError
from kurrent.services import schemas, userdata
from kurrent.web import context as web
from kurrent.web.access import can_edit, get_entry_or_deleted
from kurrent.web.forms import DiffForm, new_idempotency_key
from kurrent.web.http import HtmxHttpRequest, login_required
from kurrent.web.outcomes import UNAVAILABLE, form_status, unreadable_message
from kurrent.web.views.restoring import restore_from_page


def _owner_url(request: HtmxHttpRequest, entry: Any) -> str:
    if entry.owner_id == request.user.pk:
        return reverse("kurrent-userdata")
    return reverse("kurrent-user-data", args=[entry.owner_id])


@login_required
@require_GET
def entry_detail(request: HtmxHttpRequest, entry_id: str) -> HttpResponse:
    env = web.current_env(request)
    entry = get_entry_or_deleted(request, env, entry_id)
    history, history_error = None, ""
    try:
        history = list(reversed(userdata.entry_history(request.user, entry_id, env=env)))
    except UNAVAILABLE as exc:
        history_error = unreadable_message(env, exc)
    ctx = {
        "page": "userdata",
        "env": env,
        "entry": entry,
        "notice": schemas.notices([entry], env).get(entry.id),
        "history": history,
        "history_error": history_error,
        "can_edit": can_edit(request.user, entry) and not entry.deleted,
        "can_restore": can_edit(request.user, entry) and entry.deleted,
        "restore_key": new_idempotency_key(),
        "write_blocked": web.write_block_reason(env, request.user),
        "back_url": _owner_url(request, entry),
        "diff_form": DiffForm(
            initial={"from_version": max(0, entry.version - 1), "to_version": entry.version}
        ),
    }
    return render(request, "kurrent/entry.html", ctx)


@login_required
@require_GET
def entry_version(request: HtmxHttpRequest, entry_id: str, version: int) -> HttpResponse:
    env = web.current_env(request)
    current = get_entry_or_deleted(request, env, entry_id)
    try:
        old = userdata.entry_at_version(request.user, entry_id, version, env=env)
    except (NotFound, ValidationError):
        raise Http404("No such version") from None
    except Forbidden:
        raise PermissionDenied from None
    except UNAVAILABLE as exc:
        ctx = {"env": env, "message": str(exc) or unreadable_message(env, exc)}
        return render(request, "kurrent/unavailable.html", ctx, status=form_status(request, 503))
    ctx = {"page": "userdata", "env": env, "entry": old, "current": current}
    return render(request, "kurrent/entry_version.html", ctx)


@login_required
@require_GET
@vary_on_headers("HX-Request")  # a page, or for htmx its fragment
def entry_diff(request: HtmxHttpRequest, entry_id: str) -> HttpResponse:
    env = web.current_env(request)
    entry = get_entry_or_deleted(request, env, entry_id)
    form = DiffForm(request.GET)
    changes, error = None, ""
    if form.is_valid():
        a, b = form.cleaned_data["from_version"], form.cleaned_data["to_version"]
        if a > entry.version or b > entry.version:
            error = f"This entry has versions 0 to {entry.version}."
        else:
            try:
                changes = userdata.diff_entry_versions(request.user, entry_id, a, b, env=env)
            except (NotFound, ValidationError) as exc:
                error = getattr(exc, "message", "") or str(exc) or "No such version."
            except UNAVAILABLE as exc:
                error = unreadable_message(env, exc)
    else:
        error = "Choose two versions to compare."
    ctx = {
        "page": "userdata",
        "env": env,
        "entry": entry,
        "diff_form": form,
        "changes": changes,
        "diff_error": error,
    }
    if request.htmx:
        return render(request, "kurrent/record_diff.html#diff-table", ctx)
    return render(request, "kurrent/entry_diff.html", ctx)


@login_required
@require_POST
def entry_restore(request: HtmxHttpRequest, entry_id: str) -> HttpResponse:
    """Bring a deleted entry back (UserDataRestored), from its page: owner or admin."""
    env = web.current_env(request)
    entry = get_entry_or_deleted(request, env, entry_id)
    return restore_from_page(
        request,
        env,
        entry,
        noun="entry",
        label=f"{entry.entry_type} · {entry.category}",
        restore=lambda actor, **fields: userdata.restore_entry(actor, entry_id, **fields),
        page_url=reverse("kurrent-entry", args=[entry_id]),
    )
