from __future__ import annotations

from django.conf import settings
from django.contrib import admin, auth
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts import throttle


def _client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted
    # proxy rewrites it, and a spoofable address would defeat the lockout.
    return request.META.get("REMOTE_ADDR") or "unknown"


def _next_url(request: HttpRequest, default: str = "") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(default or settings.LOGIN_REDIRECT_URL)


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.method == "GET":
        return redirect(_next_url(request))

    form = AuthenticationForm(request, data=request.POST or None)
    status = 200
    locked_message = ""
    if request.method == "POST":
        username = request.POST.get("username", "")
        ip = _client_ip(request)
        wait = throttle.locked_for(username, ip)
        if wait:
            status = 429
        elif form.is_valid():
            throttle.clear(username, ip)
            auth.login(request, form.get_user())
            return HttpResponseRedirect(_next_url(request))
        else:
            wait = throttle.record_failure(username, ip)
            status = 429 if wait else 200
        if wait:
            locked_message = (
                f"Too many failed sign-ins for this username from your address. "
                f"Try again in {throttle.describe_wait(wait)}."
            )

    ctx = {
        "form": form,
        "locked_message": locked_message,
        "next": request.POST.get("next") or request.GET.get("next", ""),
        "page": "login",
    }
    return render(request, "accounts/login.html", ctx, status=status)


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


def admin_login(request: HttpRequest) -> HttpResponse:
    """Django admin's own sign-in page would bypass the throttle: send it here.

    Django admin sends a signed-in user who may not use it here too; sending them on
    to the sign-in page, which sends a signed-in user back to `next`, was an endless
    redirect. They get a 403 that says why; staff are sent on into the admin."""
    if request.user.is_authenticated:
        if admin.site.has_permission(request):
            return redirect(_next_url(request, default="admin:index"))
        raise PermissionDenied(
            "The admin site (/admin/) is for staff accounts only; yours is not one. "
            "Ask an admin if you need it."
        )
    query = request.GET.urlencode()
    return redirect(resolve_url("login") + (f"?{query}" if query else ""))
