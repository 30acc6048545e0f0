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
    unavailable   503  writes are blocked (role, mainnet, KurrentDB down: the reason
                       from context.write_block_reason) or KurrentDB could not take the
                       write now: a form error; the form keeps its values and its
                       idempotency key, so pressing the button again is safe

A NotFound from the service (deleted meanwhile) is a 404. Nothing here renders: the
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
    Conflict,
    Forbidden,
    KurrentBusy,
    KurrentUnavailable,
    NotConfigured,
    NotFound,
    ValidationError,
)

# Errors that mean "KurrentDB cannot take this now" (or be asked now).
UNAVAILABLE = (KurrentUnavailable, KurrentBusy, NotConfigured)

DONE, INVALID, FORBIDDEN, CONFLICT, UNAVAILABLE_STATUS = 200, 400, 403, 409, 503


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted write form (see the module docstring)."""

    status: int
    result: Any = None
    conflict: Conflict | None = None

    @property
    def done(self) -> bool:
        return self.status == DONE

    def status_for(self, request: HttpRequest) -> int:
        """The status to answer with when showing the form again."""
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
    except ValidationError as exc:
        add_service_error(form, exc)
        return Outcome(INVALID)
    except Forbidden as exc:
        form.add_error(None, str(exc) or forbidden)
        return Outcome(FORBIDDEN)
    except UNAVAILABLE as exc:
        form.add_error(None, unavailable_message(env, exc))
        return Outcome(UNAVAILABLE_STATUS)
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
    return (
        f"KurrentDB ({env}) is unreachable right now; nothing was saved. Try again when it is back."
    )


def unreadable_message(env: str, exc: Exception) -> str:
    """The same words for a read: there was nothing to save."""
    return unavailable_message(env, exc).replace("; nothing was saved", "")
