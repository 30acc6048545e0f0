"""API tokens (kurrent.api.tokens): everyone makes and revokes their own here; admins
see everyone's, revoke any and may make one for another user.

A new token's secret is shown once, in the answer to the POST that made it (never
redirected to, never put in a message or the session, so it is stored nowhere but in
the browser that asked)."""

from __future__ import annotations

from datetime import UTC, datetime, time

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from kurrent.api import tokens
from kurrent.api.models import SCOPE_READ, SCOPES
from kurrent.core.errors import NotFound, ValidationError
from kurrent.services import roles
from kurrent.web.http import HtmxHttpRequest, login_required

PAGE = "kurrent/tokens.html"


class TokenForm(forms.Form):
    name = forms.CharField(max_length=tokens.MAX_NAME, help_text="What the token is for.")
    scope = forms.ChoiceField(
        choices=SCOPES,
        initial=SCOPE_READ,
        help_text="read: GET only. read-write: also what your role may change.",
    )
    expires = forms.DateField(
        required=False,
        label="Expires on (optional)",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The token stops working at the start of this day (UTC).",
    )
    owner = forms.CharField(
        required=False, max_length=150, label="For user (admins)", help_text="Empty: you."
    )


def _ctx(request: HtmxHttpRequest, form: TokenForm, created: tokens.NewToken | None) -> dict:
    admin = roles.is_admin(request.user)
    return {
        "page": "tokens",
        "form": form,
        "created": created,
        "is_admin": admin,
        "tokens": tokens.tokens_for(request.user, everyone=admin),
        "now": datetime.now(UTC),
    }


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HtmxHttpRequest) -> HttpResponse:
    """The tokens page; a POST makes one and shows its secret this once."""
    created = None
    status = 200
    if request.method == "POST":
        form = TokenForm(request.POST)
        if not roles.is_admin(request.user):
            form.fields.pop("owner")
        if form.is_valid():
            data = form.cleaned_data
            expires = data["expires"]
            try:
                owner = tokens.user_by_name(data["owner"]) if data.get("owner") else None
                created = tokens.create_token(
                    request.user,
                    name=data["name"],
                    scope=data["scope"],
                    expires_at=datetime.combine(expires, time.min, UTC) if expires else None,
                    owner=owner,
                )
                form = TokenForm()
            except NotFound:
                form.add_error("owner", "There is no such user.")
            except ValidationError as exc:
                target = "expires" if exc.field == "expires_at" else exc.field
                form.add_error(target if target in form.fields else None, exc.message)
        if created is None:
            status = 400
    else:
        form = TokenForm()
    if not roles.is_admin(request.user):
        form.fields.pop("owner", None)
    return render(request, PAGE, _ctx(request, form, created), status=status)


@login_required
@require_POST
def token_revoke(request: HtmxHttpRequest, token_id: int) -> HttpResponse:
    try:
        token = tokens.revoke_token(request.user, token_id)
    except NotFound:
        messages.error(request, "There is no such token.")
    else:
        messages.success(request, f"Revoked “{token.name}”: it no longer works.")
    return redirect("kurrent-tokens")
