"""The dashboard and what it is made of: the status panel, the record list with its
search, the New record form (kurrent.web.views.records.record_create answers it), the
activity feed, and the admins' environment switch.

Each part is a partial rendered by the same template for the first page and for every
htmx refresh (the status poll, a search, "N new events"), so they cannot drift apart.

The record list, the activity feed and the status panel come from kurrent.web.fragments,
the web layer's one cache of HTML, because it more than doubles what bench/http.py
measures of the dashboard, the search and the status poll (see its docstring for the key
contract). Everything else of a page, and everything of a request (the CSRF token, the
form's idempotency key, messages, the header's user), is rendered for each request.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from kurrent.connection import config
from kurrent.core.errors import ValidationError
from kurrent.readmodel import status as status_readings
from kurrent.services import records, roles
from kurrent.services.common import make_page
from kurrent.web import charts, formatting, fragments
from kurrent.web import context as web
from kurrent.web.forms import RecordForm, RecordQueryForm, SwitchEnvForm, new_idempotency_key
from kurrent.web.http import HtmxHttpRequest, login_required, query_string, safe_next

ACTIVITY_LIMIT = 20
# The service's field names as the record list's filters are labelled.
FILTER_LABELS = {"tags": "Tag filter", "query": "Search", "page": "Page", "page_size": "Per page"}
STATIC_STATES = ("not configured", "disabled")
DASHBOARD = "kurrent/dashboard.html"


def blank_record_form() -> RecordForm:
    """The New record form as a page shows it: empty, with a key of its own."""
    return RecordForm(initial={"idempotency_key": new_idempotency_key()})


def _viewer(request: HtmxHttpRequest) -> tuple[Any, ...]:
    """What a read-model fragment shows differently per user (kurrent.web.fragments)."""
    return (request.user.pk, roles.role_name(request.user))


def _records_ctx(request: HtmxHttpRequest, env: str, values: dict[str, Any]) -> dict[str, Any]:
    """The record list: a search when there is a query, else the newest first.

    A filter the service refuses (a tag filter that is no tag) shows no records and
    says which filter and why, instead of failing the page."""
    owner = values["owner"] or None
    error = ""
    try:
        if values["q"]:
            page = records.search_records(
                request.user,
                values["q"],
                tags=values["tag"],
                owner=owner,
                page=values["page"],
                page_size=values["size"],
                env=env,
            )
        else:
            page = records.list_records(
                request.user,
                owner=owner,
                tags=values["tag"],
                page=values["page"],
                page_size=values["size"],
                env=env,
            )
    except ValidationError as exc:
        label = FILTER_LABELS.get(exc.field, exc.field)
        error = f"{label}: {exc.message}."
        page = make_page([], 1, values["size"], 0)
    return {
        "filter_error": error,
        "user": request.user,
        "reload_qs": request.GET.urlencode(),
        "values": values,
        "results": page,
        "filtered": bool(values["q"] or values["tag"] or values["owner"]),
        "prev_qs": query_string(values, page=page.page - 1),
        "next_qs": query_string(values, page=page.page + 1),
        "first_qs": query_string(values, page=1),
        "last_qs": query_string(values, page=page.num_pages),
    }


def _status_panel(env: str, request: HtmxHttpRequest) -> str:
    """The status panel (status.html#status-panel) for a viewer of `env`: the same for
    every user but admins, kept while the readings it shows are the same
    (kurrent.web.fragments). Admins' panels carry "check now" forms, with the request's
    CSRF token, so theirs is rendered for each request."""
    cards = web.status_cards(env)
    # When the probed environments were last checked; a health that is not configured
    # (or switched off) is made afresh, with a new time, for each call, so it is left out.
    probed = [c["health"].checked_at for c in cards if c["health"].state not in STATIC_STATES]
    checked = max(probed, default=None)
    if roles.is_admin(request.user):
        ctx = {"cards": cards, "checked": checked, "can_check": True, "show_addresses": True}
        return render_to_string("kurrent/status.html#status-panel", ctx, request=request)
    readings = tuple(
        (
            card["env"],
            replace(card["health"], checked_at=None),
            card["lag"],
            card["sizes"],
            card["recent"].calls,
            card["recent"].errors,
            formatting.window_text(card["recent"].window_s),
            card["sparks"],
        )
        for card in cards
    )

    def render_panel() -> str:
        ctx = {"cards": cards, "checked": checked, "show_addresses": False}
        return render_to_string("kurrent/status.html#status-panel", ctx)

    return fragments.fragment("status-panel", env, (), (), (readings, checked), render_panel)


def _activity_ctx(request: HtmxHttpRequest, env: str) -> dict[str, Any]:
    items = web.activity_for(request.user, env, limit=ACTIVITY_LIMIT)
    return {"activity": items, "activity_cursor": items[0].position if items else 0}


def _record_results(request: HtmxHttpRequest, env: str, generation: tuple[Any, ...]) -> str:
    """The record list (partials/record_results.html), the same for the page and htmx."""
    values = RecordQueryForm(request.GET).values()
    query = (tuple(sorted(values.items())), request.GET.urlencode())

    def render_list() -> str:
        ctx = _records_ctx(request, env, values)
        return render_to_string("partials/record_results.html", ctx)

    return fragments.fragment(
        "record-results", env, _viewer(request), query, generation, render_list
    )


def _activity_feed(request: HtmxHttpRequest, env: str, generation: tuple[Any, ...]) -> str:
    """The dashboard's activity feed (activity.html#activity-feed)."""

    def render_feed() -> str:
        return render_to_string("kurrent/activity.html#activity-feed", _activity_ctx(request, env))

    query = (ACTIVITY_LIMIT, settings.KURRENTDB_SYNC_INTERVAL_MS)  # the poll's period is in it
    return fragments.fragment(
        "activity-feed", env, _viewer(request), query, generation, render_feed
    )


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-History-Restore-Request")  # a page, or its fragment
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    """The dashboard; for htmx (the search box, filters and pager) the results only."""
    env = web.current_env(request)
    generation = fragments.read_model_generation(env)
    results = _record_results(request, env, generation)
    # Back to a page htmx no longer holds asks for it whole (HX-History-Restore-Request).
    if request.htmx and not request.htmx.history_restore_request:
        return HttpResponse(results)

    blocked = web.write_block_reason(env, request.user)
    ctx = {
        "page": "dashboard",
        "env": env,
        "values": RecordQueryForm(request.GET).values(),
        "page_sizes": RecordQueryForm.base_fields["size"].choices,
        "record_results": results,
        "activity_feed": _activity_feed(request, env, generation),
        "status_panel": _status_panel(env, request),
        "write_blocked": blocked,
        "create_form": blank_record_form(),
    }
    return render(request, DASHBOARD, ctx)


def _details_ctx() -> dict[str, Any]:
    """The status page's per-environment latencies and events chart (kurrent.web.charts)."""
    # Environments with a node to talk to (dev always: the embedded one by default).
    envs = [env for env in config.environments() if config.get_profile(env).is_configured]
    return {
        "details": charts.status_details(envs),
        "minutes": charts.EVENT_MINUTES,
    }


@login_required
@require_GET
def owner_suggestions(request: HtmxHttpRequest) -> HttpResponse:
    """<option>s for the owner filter's <datalist>: owners of records the viewer may
    see whose names begin with what was typed, in any case."""
    env = web.current_env(request)
    typed = RecordQueryForm(request.GET).values()["owner"]
    names = records.owner_suggestions(request.user, typed, env=env)
    return render(request, "partials/owner_options.html", {"names": names})


@login_required
@require_GET
@vary_on_headers("HX-Request")  # a page, or for htmx its fragment
def status(request: HtmxHttpRequest) -> HttpResponse:
    """The status panel: polled by the dashboard, or a page of its own without JS."""
    env = web.current_env(request)
    if request.htmx and request.GET.get("part") == "details":
        return render(request, "partials/status_details.html", _details_ctx())
    if request.htmx:
        return HttpResponse(_status_panel(env, request))
    ctx = {"page": "status", "status_panel": _status_panel(env, request), **_details_ctx()}
    if roles.is_admin(request.user):
        ctx["skipped"] = status_readings.skipped_events(env)
    return render(request, "kurrent/status.html", ctx)


@login_required
@require_POST
def status_check(request: HtmxHttpRequest, env: str) -> HttpResponse:
    """An admin's "check now" on a card that is down: probe it at once, past its
    backoff, then show the panel (htmx) or go back to the status page."""
    if not roles.is_admin(request.user):
        raise PermissionDenied("Only admins may check an environment now.")
    if env not in config.environments():
        raise Http404("There is no such environment.")
    web.check_now(env)
    if request.htmx:
        return HttpResponse(_status_panel(web.current_env(request), request))
    messages.info(request, f"Checked {env} just now.")
    return redirect("kurrent-status")


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
    return redirect(safe_next(request, form.cleaned_data["next"], reverse("kurrent-dashboard")))


# --- activity feed ---------------------------------------------------------------------


@login_required
@require_GET
@vary_on_headers("HX-Request")  # a page, or for htmx its fragment
def activity(request: HtmxHttpRequest) -> HttpResponse:
    env = web.current_env(request)
    ctx = {"page": "activity", "env": env, **_activity_ctx(request, env)}
    if request.htmx:
        return render(request, "kurrent/activity.html#activity-feed", ctx)
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
