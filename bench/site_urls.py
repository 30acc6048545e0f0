"""The app's URLs plus the baselines of bench/http.py (bench only, never in the app)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def trivial(request: HttpRequest) -> HttpResponse:
    """The cheapest Django view: the same middleware, no template, no database."""
    return HttpResponse("ok", content_type="text/plain")


@login_required
def trivial_signed_in(request: HttpRequest) -> HttpResponse:
    """The cheapest signed-in view: what every dashboard URL pays before its own work
    (the session and the user loaded from the database)."""
    return HttpResponse(f"ok {request.user.pk}", content_type="text/plain")


urlpatterns = [
    path("bench/trivial/", trivial),
    path("bench/trivial-signed-in/", trivial_signed_in),
    path("", include("penguinpool.urls")),
]
