"""One place that turns a service's outcome into what a write view answers.

Every write view does the same thing: refuse when writes are blocked, validate its
form, call one service, and then either move on or show the form again with why.
`submit` does that and says what happened as an Outcome:

    done          200  the service's result is in `result`
    invalid       400  the form's own errors, or the service's ValidationError on the
                       field it names (else on the form)
    forbidden     403  the service refused this actor: a form error
    conflict      409  someone changed it since the version the user saw: `conflict`
                       holds the service's Conflict (with the current state) and the
                       view decides how to show both versions
    already       409  this very form (its idempotency key) was submitted before with
                       other content: `already` holds the service's AlreadySubmitted
                       (what was saved); the view shows it and keeps what was typed.
                       409 for htmx too (htmx-config in base.html swaps a 409)
    unavailable   503  writes are blocked (role, mainnet, KurrentDB down: the reason
                       from context.write_block_reason) or KurrentDB could not take the
                       write now: a form error; the form keeps its values and its
                       idempotency key, so pressing the button again is safe

A NotFound from the service (deleted meanwhile), or Private (someone else's private
item), is a 404. A KurrentTimeout says the write may have been saved; a stream that
cannot be read (StreamUnreadable) is a 502 form error. Nothing here renders: the
view re-renders its form with `outcome.status_for(request)`, since htmx 2 does not
swap 4xx/5xx answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import Http404, HttpRequest

from kurrent.core.errors import (
    AlreadySubmitted,
    Conflict,
    Forbidden,
    KurrentBusy,
    KurrentError,
    KurrentTimeout,
    KurrentUnavailable,
    NotConfigured,
    NotFound,
    Private,
    StreamUnreadable,
    ValidationError,
)
from kurrent.web.forms import DeleteForm

# Errors that mean "KurrentDB cannot take this now" (or be asked now).
UNAVAILABLE = (KurrentUnavailable, KurrentBusy, NotConfigured)

DONE, INVALID, FORBIDDEN, CONFLICT, UNAVAILABLE_STATUS = 200, 400, 403, 409, 503
UNREADABLE_STATUS = 502


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted write form (see the module docstring)."""

    status: int
    result: Any = None
    conflict: Conflict | None = None
    already: AlreadySubmitted | None = None

    @property
    def done(self) -> bool:
        return self.status == DONE

    def status_for(self, request: HttpRequest) -> int:
        """The status to answer with when showing the form again (a 409 of a form
        submitted before is kept for htmx: base.html's htmx-config swaps it)."""
        if self.already is not None:
            return CONFLICT
        return form_status(request, self.status)


def submit(
    form: forms.Form,
    write: Callable[[dict[str, Any]], Any],
    *,
    env: str,
    blocked: str = "",
    forbidden: str = "You may not change this.",
    not_found: str = "It was deleted meanwhile.",
) -> Outcome:
    """Validate `form` and call `write(form.cleaned_data)` unless writes are `blocked`.

    Errors land on `form`; `forbidden` is the error shown when the service refuses
    without saying why, `not_found` the 404's message."""
    if blocked:
        form.add_error(None, blocked)
        return Outcome(UNAVAILABLE_STATUS)
    if not form.is_valid():
        return Outcome(INVALID)
    try:
        result = write(form.cleaned_data)
    except Conflict as exc:
        return Outcome(CONFLICT, conflict=exc)
    except AlreadySubmitted as exc:
        form.add_error(None, str(exc))
        return Outcome(CONFLICT, already=exc)
    except ValidationError as exc:
        add_service_error(form, exc)
        return Outcome(INVALID)
    except Private:
        raise Http404("No such item.") from None
    except Forbidden as exc:
        form.add_error(None, str(exc) or forbidden)
        return Outcome(FORBIDDEN)
    except UNAVAILABLE as exc:
        form.add_error(None, unavailable_message(env, exc))
        return Outcome(UNAVAILABLE_STATUS)
    except StreamUnreadable:
        form.add_error(None, UNREADABLE_WRITE)
        return Outcome(UNREADABLE_STATUS)
    except NotFound:
        raise Http404(not_found) from None
    return Outcome(DONE, result=result)


def submit_delete(
    form: forms.Form, delete: Callable[..., Any], *, env: str, blocked: str = ""
) -> Outcome:
    """A posted delete confirmation (records and entries): `delete(expected_version=,
    idempotency_key=, env=)` at the version the user saw. On a conflict the caller shows
    the item as it is now and asks again."""

    def write(data: dict[str, Any]) -> Any:
        return delete(
            expected_version=data["expected_version"],
            idempotency_key=str(data["idempotency_key"]),
            env=env,
        )

    return submit(form, write, env=env, blocked=blocked, not_found="Already deleted.")


def deleted_by_this_form(request: HttpRequest, delete: Callable[..., Any], env: str) -> bool:
    """A delete form posted for an item that is gone: True when this very form deleted it
    (the service's delete answers its resubmission quietly), so the answer is the first
    one's; anything else (deleted by someone else, never there, a bad form) is False."""
    form = DeleteForm(request.POST)
    if not form.is_valid():
        return False
    try:
        delete(
            expected_version=form.cleaned_data["expected_version"],
            idempotency_key=str(form.cleaned_data["idempotency_key"]),
            env=env,
        )
    except (KurrentError, Http404):
        return False
    return True


def add_service_error(form: forms.Form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the field it names, else to the form."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message if field else str(exc))


def form_status(request: HttpRequest, status: int) -> int:
    """htmx 2 does not swap 4xx/5xx responses: an invalid form comes back as 200 for
    htmx so the user sees the errors; plain posts get the honest status."""
    return 200 if getattr(request, "htmx", False) else status


def unavailable_message(env: str, exc: Exception) -> str:
    """Why a write did not happen, in words for the person who pressed the button."""
    if isinstance(exc, NotConfigured):
        return f"The {env} environment has no KurrentDB connection configured; nothing was saved."
    if isinstance(exc, KurrentBusy):
        return f"KurrentDB ({env}) is busy right now; nothing was saved. Try again in a moment."
    if isinstance(exc, KurrentTimeout):
        return (
            f"KurrentDB ({env}) did not answer in time, so your change may have been saved: "
            "if it was, it will appear here shortly. Reload to check before you try again; "
            "pressing the button again is safe, this form is stored at most once."
        )
    return (
        f"KurrentDB ({env}) is unreachable right now; nothing was saved. Try again when it is back."
    )


def unreadable_message(env: str, exc: Exception) -> str:
    """The same words for a read: there was nothing to save."""
    if isinstance(exc, KurrentTimeout):
        return f"KurrentDB ({env}) did not answer in time. Try again in a moment."
    return unavailable_message(env, exc).replace("; nothing was saved", "")


UNREADABLE_WRITE = (
    "KurrentDB cannot read this item's stream right now, so nothing was saved. The rest "
    "of the app works as usual; try again later, or ask an admin to look at the stream."
)
UNREADABLE_READ = (
    "KurrentDB cannot read this record's stream right now (it answered with something this "
    "app cannot read). Other records are not affected. Try again later, or ask an admin to "
    "look at the stream in the event browser."
)
