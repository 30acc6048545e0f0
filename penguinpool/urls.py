from django.contrib import admin
from django.urls import include, path

from accounts import views as accounts_views
from kurrent import ops

urlpatterns = [
    # Admin sign-in goes through the throttled login page.
    path("admin/login/", accounts_views.admin_login),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    # For load balancers and monitoring: no sign-in, no secrets (kurrent.ops). The
    # health check is answered by kurrent.ops.HealthMiddleware; this names its URL.
    path(ops.HEALTH_PATH.lstrip("/"), ops.health, name="kurrent-health"),
    path("metrics", ops.metrics, name="kurrent-metrics"),
    path("", include("kurrent.urls")),
]
