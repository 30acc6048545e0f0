"""User data: my entries by type and category (store, edit, flip visibility, delete)
and the directory of everyone's public entries.

Every write goes through kurrent.web.outcomes.submit; an admin changes anyone's
entries from the same views (reached from the Users page).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from kurrent.core.errors import KurrentError
from kurrent.services import roles, schemas, userdata
from kurrent.web import context as web
from kurrent.web import merging
from kurrent.web.access import get_entry, get_rw_entry
from kurrent.web.forms import (
    DeleteForm,
    DirectoryQueryForm,
    EntryEditForm,
    EntryForm,
    VisibilityForm,
    delete_form,
    fresh_key_form,
    new_idempotency_key,
    retry_form,
)
from kurrent.web.http import HtmxHttpRequest, done, login_required, query_string
from kurrent.web.outcomes import INVALID, deleted_by_this_form, submit, submit_delete

# The fields of the edit form, merged field by field (and key by key) after a conflict.
ENTRY_FIELDS = ("value", "tags", "is_public")


def _grouped(entries_by_type: dict[str, list[Any]]) -> list[tuple[str, list[tuple[str, list]]]]:
    """type -> category -> entries, types in their fixed order, categories sorted."""
    grouped = []
    for entry_type in userdata.ENTRY_TYPES:
        entries = entries_by_type.get(entry_type) or []
        if not entries:
            continue
        categories: dict[str, list[Any]] = {}
        for entry in entries:
            categories.setdefault(entry.category, []).append(entry)
        grouped.append((entry_type, sorted(categories.items(), key=lambda kv: kv[0].lower())))
    return grouped


def userdata_ctx(request: HtmxHttpRequest, env: str, owner: Any) -> dict[str, Any]:
    """`owner`'s entries as `request.user` may see them (also the admins' Users pages)."""
    entries = userdata.list_entries(request.user, user=owner, env=env)
    every = [e for group in entries.values() for e in group]
    return {
        "notices": schemas.notices(every, env),
        "env": env,
        "owner": owner,
        "is_self": owner.pk == request.user.pk,
        "grouped": _grouped(entries),
        "entry_count": sum(len(v) for v in entries.values()),
        "write_blocked": web.write_block_reason(env, request.user),
    }


def _entry_owner_url(request: HtmxHttpRequest, entry: Any) -> str:
    if entry.owner_id == request.user.pk:
        return reverse("kurrent-userdata")
    return reverse("kurrent-user-data", args=[entry.owner_id])


@login_required
@require_GET
def userdata_page(request: HtmxHttpRequest) -> HttpResponse:
    env = web.current_env(request)
    ctx = userdata_ctx(request, env, request.user)
    ctx["page"] = "userdata"
    ctx["store_form"] = EntryForm(initial={"idempotency_key": new_idempotency_key()})
    return render(request, "kurrent/userdata.html", ctx)


@login_required
@require_POST
def entry_create(request: HtmxHttpRequest) -> HttpResponse:
    env = web.current_env(request)
    if not roles.can_write(request.user):
        raise PermissionDenied("Your role can read data but not change it.")
    form = EntryForm(request.POST)

    def store(data: dict[str, Any]) -> Any:
        return userdata.store_entry(
            request.user,
            entry_type=data["entry_type"],
            category=data["category"],
            value=data["value"],
            tags=data["tags"],
            is_public=data["is_public"],
            idempotency_key=str(data["idempotency_key"]),
            env=env,
        )

    blocked = web.write_block_reason(env, request.user)
    outcome = submit(
        form, store, env=env, blocked=blocked, forbidden="You may not store data here."
    )
    if outcome.done:
        if not request.htmx:
            messages.success(request, "Stored.")
        return done(request, reverse("kurrent-userdata"))

    ctx = userdata_ctx(request, env, request.user)
    ctx["page"] = "userdata"
    ctx["store_form"] = form
    if outcome.conflict is not None:
        # (user, type, category) names one entry: point at the one stored there.
        form.add_error(None, str(outcome.conflict))
        ctx["existing"] = outcome.conflict.current
    if outcome.already is not None:
        # Submitted before with other values: show what that saved, keep what was typed.
        ctx["already_saved"] = outcome.already.current
        ctx["store_form"] = fresh_key_form(EntryForm, request.POST)
    if request.htmx:
        status = outcome.status_for(request)
        return render(request, "kurrent/userdata.html#store-form", ctx, status=status)
    return render(request, "kurrent/userdata.html", ctx, status=outcome.status)


@login_required
@require_http_methods(["GET", "POST"])
def entry_edit(request: HtmxHttpRequest, entry_id: str) -> HttpResponse:
    env = web.current_env(request)
    entry = get_rw_entry(request, env, entry_id)
    blocked = web.write_block_reason(env, request.user)
    conflict = None
    status = 200
    if request.method == "GET":
        form = EntryEditForm(
            initial={
                "value": entry.value,
                "tags": list(entry.tags),
                "is_public": entry.is_public,
                "expected_version": entry.version,
                "idempotency_key": new_idempotency_key(),
            }
        )
    else:
        form = EntryEditForm(request.POST)

        def update(data: dict[str, Any]) -> Any:
            version = data["expected_version"]
            values = merging.apply_choices(
                request.POST,
                {name: data[name] for name in ENTRY_FIELDS},
                lambda: merging.fields_of(
                    userdata.entry_at_version(request.user, entry_id, version, env=env),
                    ENTRY_FIELDS,
                ),
            )
            return userdata.update_entry(
                request.user,
                entry_id,
                expected_version=version,
                idempotency_key=str(data["idempotency_key"]),
                env=env,
                **values,
            )

        outcome = submit(
            form, update, env=env, blocked=blocked, not_found="The entry was deleted meanwhile."
        )
        if outcome.done:
            if not request.htmx:
                messages.success(request, "Saved.")
            return done(request, _entry_owner_url(request, entry))
        if outcome.conflict is not None:
            exc = outcome.conflict
            current = exc.current or get_entry(request, env, entry_id)
            version = current.version if exc.current_version is None else exc.current_version
            conflict = {"current": current, "message": str(exc), "merge": None}
            post = request.POST
            try:
                seen = form.cleaned_data["expected_version"]
                base = userdata.entry_at_version(request.user, entry_id, seen, env=env)
            except KurrentError:
                base = None
            if base is not None:
                # The three-way merge, ready to save against the version now.
                mine = {name: form.cleaned_data[name] for name in ENTRY_FIELDS}
                merged = merging.merge(base, current, mine, ENTRY_FIELDS)
                post = merging.form_data(request.POST, merged, json_fields=("value",))
                conflict["merge"] = merging.context(merged)
            form = retry_form(EntryEditForm, post, version)
        status = outcome.status

    ctx = {
        "page": "userdata",
        "env": env,
        "entry": entry,
        "notice": schemas.notices([entry], env).get(entry.id),
        "form": form,
        "conflict": conflict,
        "write_blocked": blocked,
        "back_url": _entry_owner_url(request, entry),
    }
    if request.htmx:
        return render(request, "kurrent/entry_edit.html#edit-form", ctx)
    return render(request, "kurrent/entry_edit.html", ctx, status=status)


@login_required
@require_POST
def entry_visibility(request: HtmxHttpRequest, entry_id: str) -> HttpResponse:
    """Flip an entry between public and private (one event)."""
    env = web.current_env(request)
    entry = get_rw_entry(request, env, entry_id)
    blocked = web.write_block_reason(env, request.user)
    form = VisibilityForm(request.POST)

    def flip(data: dict[str, Any]) -> Any:
        return userdata.update_entry(
            request.user,
            entry_id,
            expected_version=data["expected_version"],
            is_public=data["is_public"],
            idempotency_key=str(data["idempotency_key"] or "") or None,
            env=env,
        )

    outcome = submit(form, flip, env=env, blocked=blocked)
    if outcome.status == INVALID and not form.non_field_errors():
        return HttpResponse("Malformed visibility form.", status=400)
    error = " ".join(form.non_field_errors())
    if outcome.done:
        entry = outcome.result
    elif outcome.conflict is not None:
        entry = outcome.conflict.current or get_entry(request, env, entry_id)
        error = (
            "It changed meanwhile: this is the current state. Toggle again if you still want to."
        )

    if request.htmx:
        ctx = {
            "entry": entry,
            "entry_error": error,
            "write_blocked": blocked,
            "can_change": True,
            "notices": schemas.notices([entry], env),
        }
        ctx["toggled"] = outcome.done  # focus back on the button, the change read out
        return render(request, "partials/entry_card.html", ctx)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Now public." if entry.is_public else "Now private.")
    return redirect(_entry_owner_url(request, entry))


@login_required
@require_http_methods(["GET", "POST"])
def entry_delete(request: HtmxHttpRequest, entry_id: str) -> HttpResponse:
    env = web.current_env(request)
    try:
        entry = get_rw_entry(request, env, entry_id)
    except Http404:
        if request.method == "POST" and deleted_by_this_form(
            request, partial(userdata.delete_entry, request.user, entry_id), env
        ):
            messages.info(request, "Already deleted: this form was submitted before.")
            return done(request, reverse("kurrent-userdata"))
        raise
    blocked = web.write_block_reason(env, request.user)
    status, changed = 200, False
    if request.method == "GET":
        form = delete_form(entry)
    else:
        form = DeleteForm(request.POST)
        delete = partial(userdata.delete_entry, request.user, entry_id)
        outcome = submit_delete(form, delete, env=env, blocked=blocked)
        if outcome.done:
            messages.success(request, "Deleted.")
            return done(request, _entry_owner_url(request, entry))
        if outcome.conflict is not None:
            entry = get_rw_entry(request, env, entry_id)
            form, changed = delete_form(entry), True
        status = outcome.status_for(request)
    ctx = {
        "page": "userdata",
        "env": env,
        "entry": entry,
        "form": form,
        "changed": changed,
        "write_blocked": blocked,
        "back_url": _entry_owner_url(request, entry),
    }
    return render(request, "kurrent/entry_delete.html", ctx, status=status)


@login_required
@require_GET
@vary_on_headers("HX-Request")  # a page, or for htmx its fragment
def directory(request: HtmxHttpRequest) -> HttpResponse:
    env = web.current_env(request)
    query = DirectoryQueryForm(request.GET)
    data = query.cleaned_data if query.is_valid() else {}
    values = {
        "q": (data.get("q") or "").strip(),
        "type": data.get("type") or "",
        "page": data.get("page") or 1,
    }
    results = userdata.public_directory(
        request.user,
        entry_type=values["type"] or None,
        query=values["q"] or None,
        page=values["page"],
        env=env,
    )
    ctx = {
        "page": "directory",
        "env": env,
        "query": query,
        "values": values,
        "results": results,
        "notices": schemas.notices(results.items, env),
        "prev_qs": query_string(values, page=results.page - 1),
        "next_qs": query_string(values, page=results.page + 1),
    }
    if request.htmx:
        return render(request, "kurrent/directory.html#directory-results", ctx)
    return render(request, "kurrent/directory.html", ctx)
