"""The app's URLs plus /bench/trivial/, the baseline of bench/http.py (bench only)."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def trivial(request: HttpRequest) -> HttpResponse:
    """The cheapest Django view: the same middleware, no template, no database."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/trivial/", trivial),
    path("", include("penguinpool.urls")),
]
