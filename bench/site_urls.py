"""The app's URLs plus the baselines of bench/http.py (bench only, never in the app)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path


def trivial(request: HttpRequest) -> HttpResponse:
    """The cheapest Django view: the same middleware, no template, no database."""
    return HttpResponse("ok", content_type="text/plain")


@login_required
def trivial_signed_in(request: HttpRequest) -> HttpResponse:
    """The cheapest signed-in view: what every dashboard URL pays before its own work
    (the session and the user loaded from the database)."""
    return HttpResponse(f"ok {request.user.pk}", content_type="text/plain")


def trivial_json(request: HttpRequest) -> JsonResponse:
    """The cheapest JSON view: the baseline of the API's endpoints (no auth, no query)."""
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bench/trivial/", trivial),
    path("bench/trivial-json/", trivial_json),
    path("bench/trivial-signed-in/", trivial_signed_in),
    path("", include("penguinpool.urls")),
]
