"""Stream records: create (from the dashboard), one record's page with its history,
a past version, a diff between versions, edit (with the conflict view) and delete.

Reads of one record's history come from its KurrentDB stream through the service;
every write goes through kurrent.web.outcomes.submit.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from kurrent.core.errors import (
    Forbidden,
    KurrentBusy,
    KurrentError,
    NotFound,
    Private,
    StreamUnreadable,
    ValidationError,
)
from kurrent.services import records, roles
from kurrent.web import context as web
from kurrent.web import merging
from kurrent.web.access import can_edit, get_record, get_record_or_deleted, get_rw_record
from kurrent.web.forms import (
    DeleteForm,
    DiffForm,
    RecordEditForm,
    RecordForm,
    delete_form,
    fresh_key_form,
    new_idempotency_key,
    retry_form,
)
from kurrent.web.http import HtmxHttpRequest, done, login_required
from kurrent.web.outcomes import (
    UNAVAILABLE,
    UNREADABLE_READ,
    deleted_by_this_form,
    form_status,
    submit,
    submit_delete,
    unreadable_message,
)
from kurrent.web.views.dashboard import DASHBOARD, blank_record_form
from kurrent.web.views.restoring import restore_from_page

RECORD_FIELDS = ("name", "data", "tags", "is_public")


@login_required
@require_POST
def record_create(request: HtmxHttpRequest) -> HttpResponse:
    """The dashboard's New record form. Plain posts redirect to the new record; htmx
    gets a fresh form and a `records-changed` event that reloads the list."""
    env = web.current_env(request)
    blocked = web.write_block_reason(env, request.user)
    if not roles.can_write(request.user):
        raise PermissionDenied(blocked)
    form = RecordForm(request.POST)

    def create(data: dict[str, Any]) -> Any:
        return records.create_record(
            request.user,
            name=data["name"],
            data=data["data"],
            tags=data["tags"],
            is_public=data["is_public"],
            idempotency_key=str(data["idempotency_key"]),
            env=env,
        )

    outcome = submit(
        form, create, env=env, blocked=blocked, forbidden="You may not create records here."
    )
    if outcome.done:
        created = outcome.result
        if not request.htmx:
            messages.success(request, f"Created “{created.name}”.")
            return redirect(reverse("kurrent-record", args=[created.id]))
        # A fresh form (new idempotency key), a note linking the new record, and
        # an event that makes the results list reload with its current filters.
        ctx = {"create_form": blank_record_form(), "created": created, "write_blocked": ""}
        response = render(request, f"{DASHBOARD}#create-form", ctx)
        return trigger_client_event(response, "records-changed")

    ctx = {"create_form": form, "write_blocked": blocked, "page": "dashboard", "env": env}
    if outcome.already is not None:
        # Submitted before with other values: show what that saved, keep what was typed
        # under a new key, so sending it again is a deliberate second record.
        ctx["already_saved"] = outcome.already.current
        ctx["create_form"] = fresh_key_form(RecordForm, request.POST)
    if request.htmx:
        return render(request, f"{DASHBOARD}#create-form", ctx, status=outcome.status_for(request))
    return render(request, "kurrent/record_new.html", ctx, status=outcome.status)


def _json_format(request: HttpRequest) -> str:
    return "raw" if request.GET.get("format") == "raw" else "pretty"


@login_required
@require_GET
def record_detail(request: HtmxHttpRequest, record_id: str) -> HttpResponse:
    env = web.current_env(request)
    record = get_record_or_deleted(request, env, record_id)
    history, history_error = None, ""
    try:
        history = list(reversed(records.record_history(request.user, record_id, env=env)))
    except KurrentBusy:
        raise  # 503 + Retry-After (kurrent.web.failures)
    except UNAVAILABLE as exc:
        history_error = unreadable_message(env, exc)
    except StreamUnreadable:
        # This record's stream only: its values below come from the read model.
        history_error = UNREADABLE_READ
    ctx = {
        "page": "record",
        "env": env,
        "record": record,
        "history": history,
        "history_error": history_error,
        "can_edit": can_edit(request.user, record) and not record.deleted,
        "can_restore": can_edit(request.user, record) and record.deleted,
        "restore_key": new_idempotency_key(),
        "write_blocked": web.write_block_reason(env, request.user),
        "json_format": _json_format(request),
        "diff_form": DiffForm(
            initial={"from_version": max(0, record.version - 1), "to_version": record.version}
        ),
    }
    return render(request, "kurrent/record.html", ctx)


@login_required
@require_GET
def record_version(request: HtmxHttpRequest, record_id: str, version: int) -> HttpResponse:
    env = web.current_env(request)
    current = get_record_or_deleted(request, env, record_id)
    try:
        old = records.record_at_version(request.user, record_id, version, env=env)
    except (NotFound, ValidationError, Private):
        raise Http404("No such version") from None
    except Forbidden:
        raise PermissionDenied from None
    except KurrentBusy:
        raise  # 503 + Retry-After (kurrent.web.failures)
    except UNAVAILABLE as exc:
        ctx = {"env": env, "message": unreadable_message(env, exc)}
        return render(request, "kurrent/unavailable.html", ctx, status=form_status(request, 503))
    ctx = {
        "page": "record",
        "env": env,
        "record": old,
        "current": current,
        "json_format": _json_format(request),
    }
    return render(request, "kurrent/record_version.html", ctx)


@login_required
@require_GET
@vary_on_headers("HX-Request")  # a page, or for htmx its fragment
def record_diff(request: HtmxHttpRequest, record_id: str) -> HttpResponse:
    env = web.current_env(request)
    record = get_record_or_deleted(request, env, record_id)
    form = DiffForm(request.GET)
    changes, error = None, ""
    if form.is_valid():
        a, b = form.cleaned_data["from_version"], form.cleaned_data["to_version"]
        if a > record.version or b > record.version:
            error = f"This record has versions 0 to {record.version}."
        else:
            try:
                changes = records.diff_versions(request.user, record_id, a, b, env=env)
            except (NotFound, ValidationError) as exc:
                error = getattr(exc, "message", "") or str(exc) or "No such version."
            except KurrentBusy:
                raise  # 503 + Retry-After (kurrent.web.failures)
            except UNAVAILABLE as exc:
                error = unreadable_message(env, exc)
            except StreamUnreadable:
                error = UNREADABLE_READ
    else:
        error = "Choose two versions to compare."
    ctx = {
        "page": "record",
        "env": env,
        "record": record,
        "diff_form": form,
        "changes": changes,
        "diff_error": error,
    }
    if request.htmx:
        return render(request, "kurrent/record_diff.html#diff-table", ctx)
    return render(request, "kurrent/record_diff.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def record_edit(request: HtmxHttpRequest, record_id: str) -> HttpResponse:
    env = web.current_env(request)
    record = get_rw_record(request, env, record_id)
    blocked = web.write_block_reason(env, request.user)
    conflict: dict[str, Any] | None = None
    status = 200

    if request.method == "GET":
        form = RecordEditForm(
            initial={
                "name": record.name,
                "data": record.data,
                "tags": list(record.tags),
                "is_public": record.is_public,
                "expected_version": record.version,
                "idempotency_key": new_idempotency_key(),
            }
        )
    else:
        form = RecordEditForm(request.POST)

        def update(data: dict[str, Any]) -> Any:
            version = data["expected_version"]
            values = merging.apply_choices(
                request.POST,
                {name: data[name] for name in RECORD_FIELDS},
                lambda: merging.fields_of(
                    records.record_at_version(request.user, record_id, version, env=env),
                    RECORD_FIELDS,
                ),
            )
            return records.update_record(
                request.user,
                record_id,
                expected_version=version,
                idempotency_key=str(data["idempotency_key"]),
                env=env,
                **values,
            )

        outcome = submit(
            form, update, env=env, blocked=blocked, not_found="The record was deleted meanwhile."
        )
        if outcome.done:
            if not request.htmx:
                messages.success(request, "Saved.")
            return done(request, reverse("kurrent-record", args=[record_id]))
        if outcome.conflict is not None:
            conflict, form = _conflict(request, env, record_id, form, outcome.conflict)
        status = outcome.status

    ctx = {
        "page": "record",
        "env": env,
        "record": record,
        "form": form,
        "conflict": conflict,
        "write_blocked": blocked,
    }
    if request.htmx:
        return render(request, "kurrent/record_edit.html#edit-form", ctx)
    return render(request, "kurrent/record_edit.html", ctx, status=status)


def _conflict(
    request: HtmxHttpRequest, env: str, record_id: str, form: RecordEditForm, exc: Any
) -> tuple[dict[str, Any], Any]:
    """Nothing was saved. Keep every value the user typed, but move the form onto
    the current version, so saving again is a deliberate choice made after
    seeing what changed meanwhile, never a silent overwrite."""
    seen = form.cleaned_data["expected_version"]
    current = exc.current
    if current is None:
        current = get_record(request, env, record_id)
    current_version = exc.current_version if exc.current_version is not None else current.version
    rows = _conflict_rows(current, form)
    try:
        meanwhile = records.diff_versions(request.user, record_id, seen, current_version, env=env)
        base = records.record_at_version(request.user, record_id, seen, env=env)
    except KurrentError:
        meanwhile, base = None, None
    post = request.POST
    merge = None
    if base is not None:
        # The three-way merge, ready to save: the form holds it, against the version now.
        mine = {name: form.cleaned_data[name] for name in RECORD_FIELDS}
        merged = merging.merge(base, current, mine, RECORD_FIELDS)
        post = merging.form_data(request.POST, merged, json_fields=("data",))
        merge = merging.context(merged)
    retry = retry_form(RecordEditForm, post, current_version)
    conflict = {
        "merge": merge,
        "message": str(exc),
        "seen": seen,
        "current": current,
        "current_version": current_version,
        "rows": rows,
        "same": [row["label"].lower() for row in rows if not row["differs"]],
        "meanwhile": meanwhile,
    }
    return conflict, retry


def _conflict_rows(current: Any, form: RecordEditForm) -> list[dict[str, Any]]:
    """Field by field: the value stored now beside the value the user submitted."""
    rows = []
    for name in RECORD_FIELDS:
        theirs = getattr(current, name, None)
        if name == "tags" and theirs is not None:
            theirs = list(theirs)
        mine = form.cleaned_data.get(name) if hasattr(form, "cleaned_data") else None
        rows.append(
            {
                "field": name,
                "label": form.fields[name].label or name.replace("_", " ").capitalize(),
                "current": theirs,
                "mine": mine,
                "differs": theirs != mine,
            }
        )
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def record_delete(request: HtmxHttpRequest, record_id: str) -> HttpResponse:
    env = web.current_env(request)
    try:
        record = get_rw_record(request, env, record_id)
    except Http404:
        if request.method == "POST" and deleted_by_this_form(
            request, partial(records.delete_record, request.user, record_id), env
        ):
            messages.info(request, "Already deleted: this form was submitted before.")
            return done(request, reverse("kurrent-dashboard"))
        raise
    blocked = web.write_block_reason(env, request.user)
    status, changed = 200, False
    if request.method == "GET":
        form = delete_form(record)
    else:
        form = DeleteForm(request.POST)
        delete = partial(records.delete_record, request.user, record_id)
        outcome = submit_delete(form, delete, env=env, blocked=blocked)
        if outcome.done:
            messages.success(request, f"Deleted “{record.name}”. Its history is kept.")
            return done(request, reverse("kurrent-dashboard"))
        if outcome.conflict is not None:
            # It changed after the user looked: show it again and ask again.
            record = get_rw_record(request, env, record_id)
            form, changed = delete_form(record), True
        status = outcome.status_for(request)
    ctx = {
        "page": "record",
        "env": env,
        "record": record,
        "form": form,
        "changed": changed,
        "write_blocked": blocked,
    }
    return render(request, "kurrent/record_delete.html", ctx, status=status)


@login_required
@require_POST
def record_restore(request: HtmxHttpRequest, record_id: str) -> HttpResponse:
    """Bring a deleted record back (StreamRestored), from its page: owner or admin."""
    env = web.current_env(request)
    record = get_record_or_deleted(request, env, record_id)
    return restore_from_page(
        request,
        env,
        record,
        noun="record",
        label=f"“{record.name}”",
        restore=lambda actor, **fields: records.restore_record(actor, record_id, **fields),
        page_url=reverse("kurrent-record", args=[record_id]),
    )
