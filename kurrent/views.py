"""The dashboard's views: function views that read top to bottom.

Each view checks access, validates its form, calls a service and renders a
plain `ctx` dict. An htmx request gets the changing part of the page (an inline
partial, `template#name`); a plain request gets the whole page, so every page
works without JavaScript. Services raise the errors of kurrent.errors; the
views turn them into 404, 403, a form error or a banner, never a 500.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial, wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required as django_login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import get_script_prefix, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event
from django_htmx.middleware import HtmxDetails

from kurrent import config, holes, metrics, rawevents, roles, streams, userdata, web
from kurrent.errors import (
    Conflict,
    Forbidden,
    KurrentBusy,
    KurrentError,
    KurrentUnavailable,
    NotConfigured,
    NotFound,
    ValidationError,
)
from kurrent.forms import (
    DeleteForm,
    DiffForm,
    DirectoryQueryForm,
    EntryEditForm,
    EntryForm,
    EventBrowserForm,
    RecordEditForm,
    RecordForm,
    RecordQueryForm,
    SwitchEnvForm,
    VisibilityForm,
    new_idempotency_key,
)
from kurrent.models import StreamRecord, UserDataEntry

RECORD_FIELDS = ("name", "data", "tags", "is_public")
ACTIVITY_LIMIT = 20
# Errors that mean "KurrentDB cannot take this now": the form keeps its values
# and its idempotency key, so pressing the button again is safe.
UNAVAILABLE = (KurrentUnavailable, KurrentBusy, NotConfigured)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    user: AbstractBaseUser


def login_required(view: Any) -> Any:
    """Django's login_required, except that an htmx request (a poll, a search)
    from a signed-out browser gets HX-Redirect to the login page: following a
    302 would swap the login page into a panel instead."""
    wrapped = django_login_required(view)

    @wraps(view)
    def check(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.htmx and not request.user.is_authenticated:
            here = request.htmx.current_url_abs_path or reverse("kurrent-dashboard")
            return HttpResponseClientRedirect(f"{reverse('login')}?{urlencode({'next': here})}")
        return wrapped(request, *args, **kwargs)

    return check


# --- small helpers -------------------------------------------------------------------


def _unavailable_message(env: str, exc: Exception) -> str:
    if isinstance(exc, NotConfigured):
        return f"The {env} environment has no KurrentDB connection configured; nothing was saved."
    if isinstance(exc, KurrentBusy):
        return f"KurrentDB ({env}) is busy right now; nothing was saved. Try again in a moment."
    return (
        f"KurrentDB ({env}) is unreachable right now; nothing was saved. Try again when it is back."
    )


def _unreadable_message(env: str, exc: Exception) -> str:
    """The same words for a read: there was nothing to save."""
    return _unavailable_message(env, exc).replace("; nothing was saved", "")


def _add_service_error(form: Any, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the field it names, else to the form."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message if field else str(exc))


def _form_status(request: HtmxHttpRequest, status: int) -> int:
    # htmx 2 does not swap 4xx/5xx responses: an invalid form comes back as 200
    # for htmx so the user sees the errors; plain posts get the honest status.
    return 200 if request.htmx else status


def _get_record(request: HtmxHttpRequest, env: str, record_id: str) -> Any:
    try:
        return streams.get_record(request.user, record_id, env=env)
    except NotFound:
        raise Http404("No such record") from None
    except Forbidden:
        raise PermissionDenied("This record is private to its owner.") from None


def _get_record_or_deleted(request: HtmxHttpRequest, env: str, record_id: str) -> Any:
    """The record, or its last state if it was deleted: a deleted record keeps its
    page, read-only, because its history is kept. Never-existing ids are 404."""
    try:
        return _get_record(request, env, record_id)
    except Http404:
        try:
            history = streams.record_history(request.user, record_id, env=env)
            return streams.record_at_version(request.user, record_id, history[-1].version, env=env)
        except (NotFound, ValidationError, IndexError):
            raise Http404("No such record") from None
        except Forbidden:
            raise PermissionDenied("This record is private to its owner.") from None
        except UNAVAILABLE:
            raise Http404("No such record (KurrentDB cannot be asked now)") from None


def _can_edit(user: Any, item: Any) -> bool:
    """Admins change anything; editors their own records and entries."""
    return roles.is_admin(user) or (roles.can_write(user) and item.owner_id == user.pk)


def _get_rw_record(request: HtmxHttpRequest, env: str, record_id: str) -> Any:
    record = _get_record(request, env, record_id)
    if not _can_edit(request.user, record):
        raise PermissionDenied("Only the owner (or an admin) may change this record.")
    return record


def _get_entry(request: HtmxHttpRequest, env: str, entry_id: str) -> Any:
    try:
        return userdata.get_entry(request.user, entry_id, env=env)
    except NotFound:
        raise Http404("No such entry") from None
    except Forbidden:
        raise PermissionDenied("This entry is private to its owner.") from None


def _get_rw_entry(request: HtmxHttpRequest, env: str, entry_id: str) -> Any:
    entry = _get_entry(request, env, entry_id)
    if not _can_edit(request.user, entry):
        raise PermissionDenied("Only the owner (or an admin) may change this entry.")
    return entry


def _retry_form(request: HtmxHttpRequest, form_class: Any, current_version: int) -> Any:
    """After a Conflict: every value the user typed, moved onto the current version with a
    new idempotency key, so saving again is a deliberate choice, never a silent overwrite."""
    data = request.POST.copy()
    data["expected_version"] = str(current_version)
    data["idempotency_key"] = new_idempotency_key()
    retry = form_class(data)
    retry.is_valid()
    return retry


def _safe_next(request: HttpRequest, target: str | None, default: str) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _done(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """After a successful write: a redirect, which htmx follows as a full page load."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _unavailable_page(request: HtmxHttpRequest, env: str, exc: Exception) -> HttpResponse:
    ctx = {"env": env, "message": str(exc) or _unavailable_message(env, exc)}
    return render(request, "kurrent/unavailable.html", ctx, status=_form_status(request, 503))


def _query_string(values: dict[str, Any], **changes: Any) -> str:
    """The list's query string with some values changed; defaults are left out."""
    merged = {**values, **changes}
    query = QueryDict(mutable=True)
    for key in ("q", "tag", "owner", "type", "size", "page"):
        value = merged.get(key)
        if value in (None, "") or (key == "page" and value == 1):
            continue
        query[key] = str(value)
    return query.urlencode()


# --- dashboard and status ------------------------------------------------------------


def _sync_or_none(env: str, health: Any) -> Any:
    """The projector's lag on `env`, or None while it is unknown (the node does not answer)."""
    if health.state not in web.WRITABLE_STATES:
        return None
    try:
        return web.sync_status(env)
    except KurrentError:
        return None


# The rendered status panel, per shown environment, reused for STATUS_PANEL_TTL_S while
# the health and lag readings it shows are equal (frozen dataclasses: a new probe or lag
# measure differs): every open dashboard polls it, and all of them see the same thing.
# Only the call counts and the "ago" texts may lag by that much.
STATUS_PANEL_TTL_S = 1.0
_panel_cache: dict[str, tuple[float, tuple[Any, ...], str]] = {}
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def _status_panel(request: HtmxHttpRequest) -> str:
    """The status panel's HTML (partials/status_panel.html), from the cache when fresh."""
    shown = web.current_env(request)
    healths = web.health_all()
    syncs = {env: _sync_or_none(env, health) for env, health in healths.items()}
    # What the panel shows that can change. checked_at is left out: the panel does not
    # show it, and the health of an environment that is not configured (or switched off)
    # is made afresh, with a new time, each call.
    readings = (
        *(replace(health, checked_at=_NO_TIME) for health in healths.values()),
        *syncs.values(),
    )
    now = time.monotonic()
    cached = _panel_cache.get(shown)
    if cached is not None and now - cached[0] < STATUS_PANEL_TTL_S and cached[1] == readings:
        return cached[2]
    # One card per environment: connection health, projector lag, recent calls.
    totals = metrics.call_totals()
    cards = [
        {
            "env": env,
            "health": health,
            "sync": syncs[env],
            "recent": web.recent_counts.take(env, totals=totals),
            "shown": env == shown,
        }
        for env, health in healths.items()
    ]
    # No request: the panel is the same for every user who sees this environment, and
    # needs no context processor (the CSRF token, the user).
    html = render_to_string("partials/status_panel.html", {"cards": cards})
    _panel_cache[shown] = (now, readings, html)
    return html


def _records_ctx(request: HtmxHttpRequest, env: str, values: dict[str, Any]) -> dict[str, Any]:
    tags = [values["tag"]] if values["tag"] else []
    owner = values["owner"] or None
    if values["q"]:
        page = streams.search_records(
            request.user,
            values["q"],
            tags=tags,
            owner=owner,
            page=values["page"],
            page_size=values["size"],
            env=env,
        )
    else:
        page = streams.list_records(
            request.user,
            owner=owner,
            tags=tags,
            page=values["page"],
            page_size=values["size"],
            env=env,
        )
    return {
        "request": request,
        "user": request.user,
        "values": values,
        "results": page,
        "filtered": bool(values["q"] or values["tag"] or values["owner"]),
        "prev_qs": _query_string(values, page=page.page - 1),
        "next_qs": _query_string(values, page=page.page + 1),
        "first_qs": _query_string(values, page=1),
        "last_qs": _query_string(values, page=page.num_pages),
    }


def _viewer_key(request: HtmxHttpRequest, env: str) -> tuple[Any, ...]:
    """Whose fragment this is: what a cached fragment of the read model depends on besides
    the read model itself (a private record is only ever served to its own viewer)."""
    user = request.user
    return (env, user.pk, roles.role_name(user), roles.can_write(user), get_script_prefix())


def _record_results(
    request: HtmxHttpRequest, env: str, values: dict[str, Any], generation: tuple[Any, ...]
) -> str:
    """The record list (partials/record_results.html), the same for the page and htmx;
    its relative times still slots (web.fill_ago)."""
    key = ("records", *_viewer_key(request, env), request.GET.urlencode())
    html = web.fragments.get(key, generation)
    if html is None:
        html = render_to_string("partials/record_results.html", _records_ctx(request, env, values))
        web.fragments.put(key, generation, html)
    return html


def _activity_ctx(request: HtmxHttpRequest, env: str) -> dict[str, Any]:
    items = web.activity_for(request.user, env, limit=ACTIVITY_LIMIT)
    return {"activity": items, "activity_cursor": items[0].position if items else 0}


def _activity_feed(request: HtmxHttpRequest, env: str, generation: tuple[Any, ...]) -> str:
    """The activity feed (partials/activity_feed.html) of the dashboard, slots open."""
    key = ("activity", *_viewer_key(request, env), settings.KURRENTDB_SYNC_INTERVAL_MS)
    html = web.fragments.get(key, generation)
    if html is None:
        ctx = {**_activity_ctx(request, env), "ago_slots": True}
        html = render_to_string("partials/activity_feed.html", ctx)
        web.fragments.put(key, generation, html)
    return html


def _page_reusable(request: HtmxHttpRequest, env: str) -> bool:
    """Whether the whole dashboard may come from web.pages: not while messages wait to be
    shown (showing consumes them) or while KurrentDB is not usable (the banner then says
    how long ago it was last reached, which a reused page would not update)."""
    pending = messages.get_messages(request)
    return not len(pending) and web.health(env).state in web.WRITABLE_STATES


@login_required
@require_GET
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    """The dashboard. The read-model fragments are rendered once per viewer, query and state
    of the read model (web.fragments), and so is the whole page around them while the
    status panel it shows is the same (web.pages). The CSRF token and the New record form's
    idempotency key are holes filled for each request (kurrent.holes), never reused."""
    env = web.current_env(request)
    values = RecordQueryForm(request.GET).values()
    generation = web.read_model_generation(env)
    results = _record_results(request, env, values, generation)
    if request.htmx:
        # The search box, filters and pager swap the results only.
        return HttpResponse(web.fill_ago(results))

    panel = _status_panel(request)
    blocked = web.write_block_reason(env, request.user)
    user = request.user
    viewer = (*_viewer_key(request, env), user.get_username(), user.is_staff)
    key = ("dashboard", *viewer, request.get_full_path())
    page_generation = (*generation, panel, blocked)
    reusable = _page_reusable(request, env)
    html = web.pages.get(key, page_generation) if reusable else None
    if html is None:
        ctx: dict[str, Any] = {
            "page": "dashboard",
            "env": env,
            "values": values,
            "page_sizes": RecordQueryForm.base_fields["size"].choices,
            "record_results": mark_safe(results),  # noqa: S308 (our render)
            "activity_feed": mark_safe(_activity_feed(request, env, generation)),  # noqa: S308
            "status_panel": panel,
            "write_blocked": blocked,
            "create_form_html": mark_safe(_blank_create_form(blocked)),  # noqa: S308
            "csrf_token": holes.CSRF,  # every token on the page is a hole
        }
        html = render_to_string("kurrent/dashboard.html", ctx, request=request)
        if reusable:
            web.pages.put(key, page_generation, html)
    return HttpResponse(web.fill_ago(holes.fill(html, request)))


@login_required
@require_GET
def status(request: HtmxHttpRequest) -> HttpResponse:
    """The status panel: polled by the dashboard, or a page of its own without JS."""
    panel = _status_panel(request)
    if request.htmx:
        return HttpResponse(panel)
    ctx = {"page": "status", "status_panel": panel}
    return render(request, "kurrent/status.html", ctx)


@login_required
@require_POST
def switch_env(request: HtmxHttpRequest) -> HttpResponse:
    if not roles.is_admin(request.user):
        raise PermissionDenied("Only admins may switch the environment.")
    form = SwitchEnvForm(request.POST)
    if not form.is_valid() or form.cleaned_data["env"] not in config.environments():
        return HttpResponse("Unknown environment.", status=400)
    env = form.cleaned_data["env"]
    web.switch_env(request, env)
    messages.info(request, f"Now showing the {env} environment.")
    return redirect(_safe_next(request, form.cleaned_data["next"], reverse("kurrent-dashboard")))


# --- records -------------------------------------------------------------------------


CREATE_FORM = "partials/record_create_form.html"


def _blank_create_form(blocked: str) -> str:
    """The blank "New record" form with its holes open (kurrent.holes): the same for
    every user but for the CSRF token and idempotency key, so rendered once per process."""

    def context() -> dict[str, Any]:
        blank = RecordForm(initial={"idempotency_key": holes.KEY})
        return {"create_form": blank, "write_blocked": blocked}

    return holes.blank(CREATE_FORM, context, variant=(blocked,))


def _create_form_html(request: HtmxHttpRequest, form: RecordForm | None, blocked: str) -> str:
    """The "New record" form for this request: blank (reused), or `form` with its errors."""
    if form is None:
        return mark_safe(holes.fill(_blank_create_form(blocked), request))  # noqa: S308
    ctx = {"create_form": form, "write_blocked": blocked}
    return mark_safe(render_to_string(CREATE_FORM, ctx, request=request))  # noqa: S308


@login_required
@require_POST
def record_create(request: HtmxHttpRequest) -> HttpResponse:
    env = web.current_env(request)
    form = RecordForm(request.POST)
    blocked = web.write_block_reason(env, request.user)
    if not roles.can_write(request.user):
        raise PermissionDenied(blocked)

    status = 400
    created = None
    if blocked:
        form.add_error(None, blocked)
        status = 503
    elif form.is_valid():
        try:
            created = streams.create_record(
                request.user,
                name=form.cleaned_data["name"],
                data=form.cleaned_data["data"],
                tags=form.cleaned_data["tags"],
                is_public=form.cleaned_data["is_public"],
                idempotency_key=str(form.cleaned_data["idempotency_key"]),
                env=env,
            )
        except ValidationError as exc:
            _add_service_error(form, exc)
        except Forbidden as exc:
            form.add_error(None, str(exc) or "You may not create records here.")
            status = 403
        except UNAVAILABLE as exc:
            form.add_error(None, _unavailable_message(env, exc))
            status = 503

    if created is not None:
        url = reverse("kurrent-record", args=[created.id])
        if not request.htmx:
            messages.success(request, f"Created “{created.name}”.")
            return redirect(url)
        # A fresh form (new idempotency key), a note linking the new record, and
        # an event that makes the results list reload with its current filters.
        ctx = {
            "create_form_html": _create_form_html(request, None, ""),
            "created": created,
            "write_blocked": "",
        }
        response = render(request, "kurrent/dashboard.html#create-form", ctx)
        return trigger_client_event(response, "records-changed")

    ctx = {
        "create_form_html": _create_form_html(request, form, blocked),
        "write_blocked": blocked,
        "page": "dashboard",
        "env": env,
    }
    if request.htmx:
        return render(request, "kurrent/dashboard.html#create-form", ctx)
    return render(request, "kurrent/record_new.html", ctx, status=status)


def _json_format(request: HttpRequest) -> str:
    return "raw" if request.GET.get("format") == "raw" else "pretty"


@login_required
@require_GET
def record_detail(request: HtmxHttpRequest, record_id: str) -> HttpResponse:
    env = web.current_env(request)
    record = _get_record_or_deleted(request, env, record_id)
    history, history_error = None, ""
    try:
        history = list(reversed(streams.record_history(request.user, record_id, env=env)))
    except UNAVAILABLE as exc:
        history_error = _unreadable_message(env, exc)
    ctx = {
        "page": "record",
        "env": env,
        "record": record,
        "history": history,
        "history_error": history_error,
        "can_edit": _can_edit(request.user, record) and not record.deleted,
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
    current = _get_record_or_deleted(request, env, record_id)
    try:
        old = streams.record_at_version(request.user, record_id, version, env=env)
    except (NotFound, ValidationError):
        raise Http404("No such version") from None
    except Forbidden:
        raise PermissionDenied from None
    except UNAVAILABLE as exc:
        return _unavailable_page(request, env, exc)
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
def record_diff(request: HtmxHttpRequest, record_id: str) -> HttpResponse:
    env = web.current_env(request)
    record = _get_record_or_deleted(request, env, record_id)
    form = DiffForm(request.GET)
    changes, error = None, ""
    if form.is_valid():
        a, b = form.cleaned_data["from_version"], form.cleaned_data["to_version"]
        if a > record.version or b > record.version:
            error = f"This record has versions 0 to {record.version}."
        else:
            try:
                changes = streams.diff_versions(request.user, record_id, a, b, env=env)
            except (NotFound, ValidationError) as exc:
                error = getattr(exc, "message", "") or str(exc) or "No such version."
            except UNAVAILABLE as exc:
                error = _unreadable_message(env, exc)
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
def record_edit(request: HtmxHttpRequest, record_id: str) -> HttpResponse:
    env = web.current_env(request)
    record = _get_rw_record(request, env, record_id)
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
        status = 400
        if blocked:
            form.add_error(None, blocked)
            status = 503
        elif form.is_valid():
            seen = form.cleaned_data["expected_version"]
            try:
                streams.update_record(
                    request.user,
                    record_id,
                    expected_version=seen,
                    name=form.cleaned_data["name"],
                    data=form.cleaned_data["data"],
                    tags=form.cleaned_data["tags"],
                    is_public=form.cleaned_data["is_public"],
                    idempotency_key=str(form.cleaned_data["idempotency_key"]),
                    env=env,
                )
            except Conflict as exc:
                conflict, form = _conflict(request, env, record_id, form, exc, seen)
                status = 409
            except ValidationError as exc:
                _add_service_error(form, exc)
            except NotFound:
                raise Http404("The record was deleted meanwhile.") from None
            except Forbidden:
                raise PermissionDenied from None
            except UNAVAILABLE as exc:
                form.add_error(None, _unavailable_message(env, exc))
                status = 503
            else:
                if not request.htmx:
                    messages.success(request, "Saved.")
                return _done(request, reverse("kurrent-record", args=[record_id]))

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
    request: HtmxHttpRequest,
    env: str,
    record_id: str,
    form: RecordEditForm,
    exc: Conflict,
    seen: int,
) -> tuple[dict[str, Any], RecordEditForm]:
    """Nothing was saved. Keep every value the user typed, but move the form onto
    the current version, so saving again is a deliberate choice made after
    seeing what changed meanwhile, never a silent overwrite."""
    current = exc.current
    if current is None:
        current = streams.get_record(request.user, record_id, env=env)
    current_version = exc.current_version if exc.current_version is not None else current.version
    rows = _conflict_rows(current, form)
    try:
        meanwhile = streams.diff_versions(request.user, record_id, seen, current_version, env=env)
    except KurrentError:
        meanwhile = None
    retry = _retry_form(request, RecordEditForm, current_version)
    conflict = {
        "message": str(exc),
        "seen": seen,
        "current": current,
        "current_version": current_version,
        "rows": rows,
        "same": [row["label"].lower() for row in rows if not row["differs"]],
        "meanwhile": meanwhile,
    }
    return conflict, retry


def _delete_form(item: Any) -> DeleteForm:
    return DeleteForm(
        initial={"expected_version": item.version, "idempotency_key": new_idempotency_key()}
    )


def _delete_post(
    request: HtmxHttpRequest, env: str, blocked: str, delete: Callable[..., Any]
) -> tuple[DeleteForm, int]:
    """A posted delete confirmation (records and entries): delete at the version the user
    saw. Returns the form, with any error, and the status: 200 once deleted, 409 when it
    changed meanwhile (the caller shows it again and asks again)."""
    form = DeleteForm(request.POST)
    if blocked:
        form.add_error(None, blocked)
        return form, 503
    if not form.is_valid():
        return form, 400
    try:
        delete(
            expected_version=form.cleaned_data["expected_version"],
            idempotency_key=str(form.cleaned_data["idempotency_key"]),
            env=env,
        )
    except Conflict:
        return form, 409
    except NotFound:
        raise Http404("Already deleted.") from None
    except Forbidden:
        raise PermissionDenied from None
    except UNAVAILABLE as exc:
        form.add_error(None, _unavailable_message(env, exc))
        return form, 503
    return form, 200


@login_required
@require_http_methods(["GET", "POST"])
def record_delete(request: HtmxHttpRequest, record_id: str) -> HttpResponse:
    env = web.current_env(request)
    record = _get_rw_record(request, env, record_id)
    blocked = web.write_block_reason(env, request.user)
    status, changed = 200, False
    if request.method == "GET":
        form = _delete_form(record)
    else:
        delete = partial(streams.delete_record, request.user, record_id)
        form, status = _delete_post(request, env, blocked, delete)
        if status == 200:
            messages.success(request, f"Deleted “{record.name}”. Its history is kept.")
            return _done(request, reverse("kurrent-dashboard"))
        if status == 409:
            # It changed after the user looked: show it again and ask again.
            record = _get_rw_record(request, env, record_id)
            form, changed = _delete_form(record), True
    ctx = {
        "page": "record",
        "env": env,
        "record": record,
        "form": form,
        "changed": changed,
        "write_blocked": blocked,
    }
    return render(request, "kurrent/record_delete.html", ctx, status=_form_status(request, status))


# --- user data -----------------------------------------------------------------------


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


def _userdata_ctx(request: HtmxHttpRequest, env: str, owner: Any) -> dict[str, Any]:
    entries = userdata.list_entries(request.user, user=owner, env=env)
    return {
        "env": env,
        "owner": owner,
        "is_self": owner.pk == request.user.pk,
        "grouped": _grouped(entries),
        "entry_count": sum(len(v) for v in entries.values()),
        "write_blocked": web.write_block_reason(env, request.user),
    }


@login_required
@require_GET
def userdata_page(request: HtmxHttpRequest) -> HttpResponse:
    env = web.current_env(request)
    ctx = _userdata_ctx(request, env, request.user)
    ctx["page"] = "userdata"
    ctx["store_form"] = EntryForm(initial={"idempotency_key": new_idempotency_key()})
    return render(request, "kurrent/userdata.html", ctx)


@login_required
@require_POST
def entry_create(request: HtmxHttpRequest) -> HttpResponse:
    env = web.current_env(request)
    if not roles.can_write(request.user):
        raise PermissionDenied("Your role can read data but not change it.")
    blocked = web.write_block_reason(env, request.user)
    form = EntryForm(request.POST)
    status = 400
    if blocked:
        form.add_error(None, blocked)
        status = 503
    elif form.is_valid():
        try:
            userdata.store_entry(
                request.user,
                entry_type=form.cleaned_data["entry_type"],
                category=form.cleaned_data["category"],
                value=form.cleaned_data["value"],
                tags=form.cleaned_data["tags"],
                is_public=form.cleaned_data["is_public"],
                idempotency_key=str(form.cleaned_data["idempotency_key"]),
                env=env,
            )
        except ValidationError as exc:
            _add_service_error(form, exc)
        except Forbidden as exc:
            form.add_error(None, str(exc) or "You may not store data here.")
            status = 403
        except UNAVAILABLE as exc:
            form.add_error(None, _unavailable_message(env, exc))
            status = 503
        else:
            if not request.htmx:
                messages.success(request, "Stored.")
            return _done(request, reverse("kurrent-userdata"))

    ctx = _userdata_ctx(request, env, request.user)
    ctx["page"] = "userdata"
    ctx["store_form"] = form
    if request.htmx:
        return render(request, "kurrent/userdata.html#store-form", ctx)
    return render(request, "kurrent/userdata.html", ctx, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def entry_edit(request: HtmxHttpRequest, entry_id: str) -> HttpResponse:
    env = web.current_env(request)
    entry = _get_rw_entry(request, env, entry_id)
    blocked = web.write_block_reason(env, request.user)
    conflict = None
    status = 200
    if request.method == "GET":
        form = EntryEditForm(
            initial={
                "category": entry.category,
                "value": entry.value,
                "tags": list(entry.tags),
                "is_public": entry.is_public,
                "expected_version": entry.version,
                "idempotency_key": new_idempotency_key(),
            }
        )
    else:
        form = EntryEditForm(request.POST)
        status = 400
        if blocked:
            form.add_error(None, blocked)
            status = 503
        elif form.is_valid():
            try:
                userdata.update_entry(
                    request.user,
                    entry_id,
                    expected_version=form.cleaned_data["expected_version"],
                    category=form.cleaned_data["category"],
                    value=form.cleaned_data["value"],
                    tags=form.cleaned_data["tags"],
                    is_public=form.cleaned_data["is_public"],
                    idempotency_key=str(form.cleaned_data["idempotency_key"]),
                    env=env,
                )
            except Conflict as exc:
                current = exc.current or _get_entry(request, env, entry_id)
                version = exc.current_version
                form = _retry_form(
                    request, EntryEditForm, current.version if version is None else version
                )
                conflict = {"current": current, "message": str(exc)}
                status = 409
            except ValidationError as exc:
                _add_service_error(form, exc)
            except NotFound:
                raise Http404("The entry was deleted meanwhile.") from None
            except Forbidden:
                raise PermissionDenied from None
            except UNAVAILABLE as exc:
                form.add_error(None, _unavailable_message(env, exc))
                status = 503
            else:
                if not request.htmx:
                    messages.success(request, "Saved.")
                return _done(request, _entry_owner_url(request, entry))

    ctx = {
        "page": "userdata",
        "env": env,
        "entry": entry,
        "form": form,
        "conflict": conflict,
        "write_blocked": blocked,
        "back_url": _entry_owner_url(request, entry),
    }
    if request.htmx:
        return render(request, "kurrent/entry_edit.html#edit-form", ctx)
    return render(request, "kurrent/entry_edit.html", ctx, status=status)


def _entry_owner_url(request: HtmxHttpRequest, entry: Any) -> str:
    if entry.owner_id == request.user.pk:
        return reverse("kurrent-userdata")
    return reverse("kurrent-user-data", args=[entry.owner_id])


@login_required
@require_POST
def entry_visibility(request: HtmxHttpRequest, entry_id: str) -> HttpResponse:
    """Flip an entry between public and private (one event)."""
    env = web.current_env(request)
    entry = _get_rw_entry(request, env, entry_id)
    blocked = web.write_block_reason(env, request.user)
    form = VisibilityForm(request.POST)
    error = ""
    if blocked:
        error = blocked
    elif not form.is_valid():
        return HttpResponse("Malformed visibility form.", status=400)
    else:
        try:
            entry = userdata.update_entry(
                request.user,
                entry_id,
                expected_version=form.cleaned_data["expected_version"],
                is_public=form.cleaned_data["is_public"],
                env=env,
            )
        except Conflict as exc:
            entry = exc.current or _get_entry(request, env, entry_id)
            error = "It changed meanwhile: this is the current state. Toggle again if you still want to."
        except UNAVAILABLE as exc:
            error = _unavailable_message(env, exc)
        except NotFound:
            raise Http404 from None
        except Forbidden:
            raise PermissionDenied from None

    if request.htmx:
        ctx = {"entry": entry, "entry_error": error, "write_blocked": blocked, "can_change": True}
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
    entry = _get_rw_entry(request, env, entry_id)
    blocked = web.write_block_reason(env, request.user)
    status, changed = 200, False
    if request.method == "GET":
        form = _delete_form(entry)
    else:
        delete = partial(userdata.delete_entry, request.user, entry_id)
        form, status = _delete_post(request, env, blocked, delete)
        if status == 200:
            messages.success(request, "Deleted.")
            return _done(request, _entry_owner_url(request, entry))
        if status == 409:
            entry = _get_rw_entry(request, env, entry_id)
            form, changed = _delete_form(entry), True
    ctx = {
        "page": "userdata",
        "env": env,
        "entry": entry,
        "form": form,
        "changed": changed,
        "write_blocked": blocked,
        "back_url": _entry_owner_url(request, entry),
    }
    return render(request, "kurrent/entry_delete.html", ctx, status=_form_status(request, status))


@login_required
@require_GET
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
        "prev_qs": _query_string(values, page=results.page - 1),
        "next_qs": _query_string(values, page=results.page + 1),
    }
    if request.htmx:
        return render(request, "kurrent/directory.html#directory-results", ctx)
    return render(request, "kurrent/directory.html", ctx)


def _admin_only(request: HtmxHttpRequest) -> None:
    if not roles.is_admin(request.user):
        raise PermissionDenied("Admins only.")


@login_required
@require_GET
def users(request: HtmxHttpRequest) -> HttpResponse:
    """Admins: every user with how much they keep here, to open or erase their data."""
    _admin_only(request)
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
    _admin_only(request)
    owner = get_object_or_404(get_user_model(), pk=user_id)
    env = web.current_env(request)
    ctx = _userdata_ctx(request, env, owner)
    ctx["page"] = "directory"
    return render(request, "kurrent/user_data.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def user_erase(request: HtmxHttpRequest, user_id: int) -> HttpResponse:
    """Erase every stream of a user's data for good (admins; confirmation first)."""
    _admin_only(request)
    owner = get_object_or_404(get_user_model(), pk=user_id)
    env = web.current_env(request)
    blocked = web.write_block_reason(env, request.user)
    error = ""
    status = 200
    if request.method == "POST":
        if request.POST.get("confirm_username") != owner.get_username():
            error = f"Type the username “{owner.get_username()}” to confirm."
            status = 400
        elif blocked:
            error = blocked
            status = 503
        else:
            try:
                erased = userdata.erase_user(request.user, owner, env=env)
            except UNAVAILABLE as exc:
                error = _unavailable_message(env, exc)
                status = 503
            except Forbidden:
                raise PermissionDenied from None
            else:
                messages.success(
                    request,
                    f"Erased {erased} stream{'s' if erased != 1 else ''} of "
                    f"{owner.get_username()}'s data in {env}.",
                )
                return _done(request, reverse("kurrent-user-data", args=[owner.pk]))
    ctx = {
        "page": "directory",
        "env": env,
        "owner": owner,
        "error": error,
        "write_blocked": blocked,
    }
    return render(request, "kurrent/user_erase.html", ctx, status=_form_status(request, status))


# --- activity feed ---------------------------------------------------------------------


@login_required
@require_GET
def activity(request: HtmxHttpRequest) -> HttpResponse:
    env = web.current_env(request)
    ctx = {"page": "activity", "env": env}
    ctx.update(_activity_ctx(request, env))
    if request.htmx:
        return render(request, "partials/activity_feed.html", ctx)
    return render(request, "kurrent/activity.html", ctx)


@login_required
@require_GET
def activity_new(request: HtmxHttpRequest) -> HttpResponse:
    """How many events arrived after the reader's newest one.

    The feed polls this instead of reloading itself, so the list never moves
    under the reader: they get an "N new events" button and choose when.
    """
    env = web.current_env(request)
    try:
        after = int(request.GET.get("after", "0"))
    except ValueError:
        return HttpResponse("after must be a whole number", status=400)
    count = web.activity_count_after(request.user, env, after)
    if count == 0 and request.htmx:
        return HttpResponse(status=204)  # nothing new: htmx leaves the page alone
    ctx = {"count": count, "capped": count >= web.NEW_EVENTS_CAP}
    return render(request, "partials/activity_new.html", ctx)


# --- raw event browser (admins) ------------------------------------------------------


@login_required
@require_GET
def events(request: HtmxHttpRequest) -> HttpResponse:
    _admin_only(request)
    env = web.current_env(request)
    form = EventBrowserForm(request.GET)
    if not form.is_valid():
        # Hand-edited URLs: show the form errors over an empty page.
        ctx = {"page": "events", "env": env, "form": form, "browse": None, "error": ""}
        return render(request, "kurrent/events.html", ctx, status=400)
    opts = form.cleaned_data
    browse, error = None, ""
    try:
        browse = rawevents.browse(
            env,
            stream=opts["stream"].strip(),
            event_type=opts["type"].strip(),
            show_system=opts["system"],
            size=opts["size"],
            go=opts["go"] or "first",
            pos=opts["pos"],
        )
    except UNAVAILABLE as exc:
        error = _unreadable_message(env, exc)
    except rawevents.BrowseError as exc:
        error = str(exc)
    base = {
        "stream": opts["stream"].strip(),
        "type": opts["type"].strip(),
        "size": opts["size"],
        "system": "on" if opts["system"] else "",
    }
    ctx = {
        "page": "events",
        "env": env,
        "form": form,
        "browse": browse,
        "error": error,
        "links": rawevents.paging_links(base, browse) if browse else {},
        "time_zone": settings.TIME_ZONE,
    }
    if request.htmx:
        return render(request, "kurrent/events.html#event-page", ctx)
    return render(request, "kurrent/events.html", ctx)
