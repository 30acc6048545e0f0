"""The raw event browser (admins): any KurrentDB stream or $all, a page at a time,
system streams hidden unless asked for. Reads go through kurrent.services.rawevents."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from kurrent.core.errors import KurrentBusy
from kurrent.services import rawevents
from kurrent.web import context as web
from kurrent.web.access import admin_only
from kurrent.web.forms import EventBrowserForm
from kurrent.web.http import HtmxHttpRequest, login_required
from kurrent.web.outcomes import UNAVAILABLE, unreadable_message


@login_required
@require_GET
@vary_on_headers("HX-Request")  # a page, or for htmx its fragment
def events(request: HtmxHttpRequest) -> HttpResponse:
    admin_only(request)
    env = web.current_env(request)
    form = EventBrowserForm(request.GET)
    if not form.is_valid():
        # Hand-edited URLs: show the form errors over an empty page.
        ctx = {"page": "events", "env": env, "form": form, "browse": None, "error": ""}
        return render(request, "kurrent/events.html", ctx, status=400)
    opts = form.cleaned_data
    newest_first = opts["order"] != "oldest"
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
            newest_first=newest_first,
        )
    except KurrentBusy:
        raise  # 503 + Retry-After (kurrent.web.failures)
    except UNAVAILABLE as exc:
        error = unreadable_message(env, exc)
    except rawevents.BrowseError as exc:
        error = str(exc)
    base = {
        "stream": opts["stream"].strip(),
        "type": opts["type"].strip(),
        "size": opts["size"],
        "system": "on" if opts["system"] else "",
        "order": "" if newest_first else "oldest",
    }
    ctx = {
        "page": "events",
        "env": env,
        "form": form,
        "browse": browse,
        "error": error,
        "links": rawevents.paging_links(base, browse) if browse else {},
        "order_links": _order_links(base),
        "newest_first": newest_first,
        "json_format": opts["format"] or "pretty",
        "format_links": _format_links(request),
        "time_zone": settings.TIME_ZONE,
    }
    if request.htmx:
        return render(request, "kurrent/events.html#event-page", ctx)
    return render(request, "kurrent/events.html", ctx)


def _order_links(base: dict[str, str | int]) -> dict[str, str]:
    """The order toggle: the same filters from the first page, newest or oldest first."""
    keep = {k: v for k, v in base.items() if k != "order" and v not in (None, "")}
    return {
        "newest": urlencode(keep),
        "oldest": urlencode({**keep, "order": "oldest"}),
    }


def _format_links(request: HtmxHttpRequest) -> dict[str, str]:
    """This page again with data and metadata pretty or raw (the toggle without JS)."""
    links = {}
    for name in ("pretty", "raw"):
        query = request.GET.copy()
        query["format"] = name
        links[name] = query.urlencode()
    return links
