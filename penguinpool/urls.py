from django.contrib import admin
from django.urls import include, path

from accounts import views as accounts_views

urlpatterns = [
    # Admin sign-in goes through the throttled login page.
    path("admin/login/", accounts_views.admin_login),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("kurrent.urls")),
]
