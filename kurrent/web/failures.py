"""What a page answers when KurrentDB or its client fails in a way the view did not handle,
or a request holds what nothing below could take.

Views handle the failures they expect (a form shows "KurrentDB is unreachable", a record
page says its history cannot be read). Whatever gets past them ends here instead of in a
500 page:

    KurrentBusy                      503 + Retry-After  "busy, try again in a moment"
    KurrentUnavailable, NotConfigured 503 + Retry-After  KurrentDB cannot be asked now
    StreamUnreadable, any error of   502                 KurrentDB answered with something
      kurrentdbclient                                    this app cannot read
    ValidationError                  400                 the field and what is wrong with it
    OverflowError                    400                 a number too large for the database
                                                         (e.g. a huge id in an /admin/ form)
    AlreadySubmitted                 409                 this form was submitted before
    NotFound, Private                404
    Forbidden                        403

None of these marks an environment down: only the connection manager does that, for
errors that mean the node cannot be reached. The pages never show a host name or port
(the services' messages may hold them; the words here are fixed). The cause goes to the
log. An htmx request gets the same status and the short message as its body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from kurrentdbclient.exceptions import KurrentDBClientError

from kurrent.core.errors import (
    AlreadySubmitted,
    Forbidden,
    KurrentBusy,
    KurrentUnavailable,
    NotConfigured,
    NotFound,
    Private,
    StreamUnreadable,
    ValidationError,
)

log = logging.getLogger("kurrent.web.failures")

RETRY_AFTER_BUSY_S = 2
RETRY_AFTER_UNAVAILABLE_S = 10

BUSY = (
    "KurrentDB is busy: too many long reads are open right now. "
    "Try again in a moment; nothing was changed."
)
UNAVAILABLE = (
    "KurrentDB is not answering right now. Try again in a moment; lists and searches on "
    "the dashboard still work from the last synced data."
)
UNREADABLE = (
    "KurrentDB answered with something this app cannot read, so this page cannot be shown "
    "right now. Other pages are not affected. Try again later, or ask an admin to look at "
    "the stream in the event browser."
)

TOO_LARGE = (
    "A number in this request is too large to be an id or a count here; nothing was changed."
)


class KurrentFailureMiddleware:
    """Maps the errors above to their pages (module docstring). Goes after HtmxMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, KurrentBusy):
            return _page(request, 503, "KurrentDB is busy", BUSY, RETRY_AFTER_BUSY_S)
        if isinstance(exc, KurrentUnavailable | NotConfigured):
            title = "KurrentDB is not answering"
            return _page(request, 503, title, UNAVAILABLE, RETRY_AFTER_UNAVAILABLE_S)
        if isinstance(exc, StreamUnreadable | KurrentDBClientError):
            log.warning("unreadable answer from KurrentDB on %s", request.path, exc_info=exc)
            return _page(request, 502, "This cannot be read right now", UNREADABLE)
        if isinstance(exc, ValidationError):
            return _page(request, 400, "Not a valid request", f"{exc.field}: {exc.message}")
        if isinstance(exc, OverflowError):
            log.info("a number out of range on %s: %s", request.path, exc)
            return _page(request, 400, "Not a valid request", TOO_LARGE)
        if isinstance(exc, AlreadySubmitted):
            return _page(request, 409, "Already submitted", str(exc))
        if isinstance(exc, NotFound | Private):
            return _page(request, 404, "Not found", "There is nothing here.")
        if isinstance(exc, Forbidden):
            return _page(request, 403, "Not allowed", str(exc) or "You may not do this.")
        return None


def _page(
    request: HttpRequest, status: int, title: str, message: str, retry_after: int | None = None
) -> HttpResponse:
    if getattr(request, "htmx", False):
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    else:
        ctx = {"title": title, "message": message, "status": status}
        response = HttpResponse(
            render_to_string("kurrent/failure.html", ctx, request=request), status=status
        )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response
