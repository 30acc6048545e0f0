from django.contrib import admin
from django.urls import include, path

from accounts import views as accounts_views
from kurrent.api.main import api
from kurrent.ops import endpoints

urlpatterns = [
    # Admin sign-in goes through the throttled login page.
    path("admin/login/", accounts_views.admin_login),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    # For load balancers and monitoring: no sign-in, no secrets (kurrent.ops.endpoints). The
    # health check is answered by kurrent.ops.endpoints.HealthMiddleware; this names its URL.
    path(endpoints.HEALTH_PATH.lstrip("/"), endpoints.health, name="kurrent-health"),
    path("metrics", endpoints.metrics, name="kurrent-metrics"),
    path("api/v1/", api.urls),  # the JSON API (kurrent.api), its schema and docs
    path("", include("kurrent.urls")),
]
