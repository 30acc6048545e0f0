from django.urls import include, path
from django.views.generic import RedirectView

from kurrent import views

records = [
    path("new/", views.record_create, name="kurrent-record-create"),
    path("<str:record_id>/", views.record_detail, name="kurrent-record"),
    path("<str:record_id>/v/<int:version>/", views.record_version, name="kurrent-record-version"),
    path("<str:record_id>/diff/", views.record_diff, name="kurrent-record-diff"),
    path("<str:record_id>/edit/", views.record_edit, name="kurrent-record-edit"),
    path("<str:record_id>/delete/", views.record_delete, name="kurrent-record-delete"),
]

userdata = [
    path("", views.userdata_page, name="kurrent-userdata"),
    path("new/", views.entry_create, name="kurrent-entry-create"),
    path("<str:entry_id>/edit/", views.entry_edit, name="kurrent-entry-edit"),
    path("<str:entry_id>/visibility/", views.entry_visibility, name="kurrent-entry-visibility"),
    path("<str:entry_id>/delete/", views.entry_delete, name="kurrent-entry-delete"),
]

dashboard = [
    path("", views.dashboard, name="kurrent-dashboard"),
    path("status/", views.status, name="kurrent-status"),
    path("env/", views.switch_env, name="kurrent-switch-env"),
    path("records/", include(records)),
    path("me/", include(userdata)),
    path("directory/", views.directory, name="kurrent-directory"),
    path("users/", views.users, name="kurrent-users"),
    path("users/<int:user_id>/data/", views.user_data, name="kurrent-user-data"),
    path("users/<int:user_id>/erase/", views.user_erase, name="kurrent-user-erase"),
    path("activity/", views.activity, name="kurrent-activity"),
    path("activity/new/", views.activity_new, name="kurrent-activity-new"),
    path("events/", views.events, name="kurrent-events"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="kurrent-dashboard", permanent=False)),
    path("kurrent-db-demo/", include(dashboard)),
]
