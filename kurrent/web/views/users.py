"""Users and erasure (admins): everyone with how much they keep here, one user's
entries, and erasing every stream of theirs for good."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from kurrent.models import StreamRecord, UserDataEntry
from kurrent.services import roles, userdata
from kurrent.web import context as web
from kurrent.web.access import admin_only
from kurrent.web.forms import EraseForm
from kurrent.web.http import HtmxHttpRequest, done, login_required
from kurrent.web.outcomes import form_status, submit
from kurrent.web.views.userdata import userdata_ctx


@login_required
@require_GET
def users(request: HtmxHttpRequest) -> HttpResponse:
    """Admins: every user with how much they keep here, to open or erase their data."""
    admin_only(request)
    env = web.current_env(request)
    entries = _counts_by_owner(UserDataEntry.objects.filter(env=env, deleted=False))
    records = _counts_by_owner(StreamRecord.objects.filter(env=env, deleted=False))
    people = [
        {
            "user": person,
            "role": roles.role_name(person),
            "entries": entries.get(person.pk, 0),
            "records": records.get(person.pk, 0),
        }
        for person in get_user_model().objects.order_by("username").prefetch_related("groups")
    ]
    return render(request, "kurrent/users.html", {"page": "users", "env": env, "people": people})


def _counts_by_owner(rows: Any) -> dict[int, int]:
    return dict(rows.values_list("owner_id").annotate(n=Count("id")).values_list("owner_id", "n"))


@login_required
@require_GET
def user_data(request: HtmxHttpRequest, user_id: int) -> HttpResponse:
    """An admin's view of any user's entries, with the erase action."""
    admin_only(request)
    owner = get_object_or_404(get_user_model(), pk=user_id)
    env = web.current_env(request)
    ctx = userdata_ctx(request, env, owner)
    ctx["page"] = "directory"
    return render(request, "kurrent/user_data.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def user_erase(request: HtmxHttpRequest, user_id: int) -> HttpResponse:
    """Erase every stream of a user's data for good (admins; the username typed first)."""
    admin_only(request)
    owner = get_object_or_404(get_user_model(), pk=user_id)
    env = web.current_env(request)
    blocked = web.write_block_reason(env, request.user)
    status = 200
    if request.method == "POST":
        form = EraseForm(request.POST, owner=owner)

        def erase(data: dict[str, Any]) -> int:
            return userdata.erase_user(request.user, owner, env=env)

        outcome = submit(form, erase, env=env, blocked=blocked)
        if outcome.done:
            erased = outcome.result
            messages.success(
                request,
                f"Erased {erased} stream{'s' if erased != 1 else ''} of "
                f"{owner.get_username()}'s data in {env}.",
            )
            return done(request, reverse("kurrent-user-data", args=[owner.pk]))
        status = outcome.status
    else:
        form = EraseForm(owner=owner)
    ctx = {"page": "directory", "env": env, "owner": owner, "form": form, "write_blocked": blocked}
    return render(request, "kurrent/user_erase.html", ctx, status=form_status(request, status))
