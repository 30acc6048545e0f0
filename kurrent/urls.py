"""The dashboard's URLs, grouped by prefix; each names its view in kurrent.web.views.<area>."""

from django.urls import include, path
from django.views.generic import RedirectView

from kurrent.web.views import (
    dashboard,
    entries,
    events,
    records,
    schemas,
    tokens,
    userdata,
    users,
)

record_urls = [
    path("new/", records.record_create, name="kurrent-record-create"),
    path("owners/", dashboard.owner_suggestions, name="kurrent-owner-suggestions"),
    path("<str:record_id>/", records.record_detail, name="kurrent-record"),
    path("<str:record_id>/v/<int:version>/", records.record_version, name="kurrent-record-version"),
    path("<str:record_id>/diff/", records.record_diff, name="kurrent-record-diff"),
    path("<str:record_id>/edit/", records.record_edit, name="kurrent-record-edit"),
    path("<str:record_id>/delete/", records.record_delete, name="kurrent-record-delete"),
    path("<str:record_id>/restore/", records.record_restore, name="kurrent-record-restore"),
]

userdata_urls = [
    path("", userdata.userdata_page, name="kurrent-userdata"),
    path("new/", userdata.entry_create, name="kurrent-entry-create"),
    path("<str:entry_id>/edit/", userdata.entry_edit, name="kurrent-entry-edit"),
    path("<str:entry_id>/visibility/", userdata.entry_visibility, name="kurrent-entry-visibility"),
    path("<str:entry_id>/delete/", userdata.entry_delete, name="kurrent-entry-delete"),
    path("<str:entry_id>/", entries.entry_detail, name="kurrent-entry"),
    path("<str:entry_id>/v/<int:version>/", entries.entry_version, name="kurrent-entry-version"),
    path("<str:entry_id>/diff/", entries.entry_diff, name="kurrent-entry-diff"),
    path("<str:entry_id>/restore/", entries.entry_restore, name="kurrent-entry-restore"),
]

dashboard_urls = [
    path("", dashboard.dashboard, name="kurrent-dashboard"),
    path("status/", dashboard.status, name="kurrent-status"),
    path("status/<str:env>/check/", dashboard.status_check, name="kurrent-status-check"),
    path("env/", dashboard.switch_env, name="kurrent-switch-env"),
    path("activity/", dashboard.activity, name="kurrent-activity"),
    path("activity/new/", dashboard.activity_new, name="kurrent-activity-new"),
    path("records/", include(record_urls)),
    path("me/", include(userdata_urls)),
    path("directory/", userdata.directory, name="kurrent-directory"),
    path("users/", users.users, name="kurrent-users"),
    path("users/<int:user_id>/data/", users.user_data, name="kurrent-user-data"),
    path("users/<int:user_id>/erase/", users.user_erase, name="kurrent-user-erase"),
    path("events/", events.events, name="kurrent-events"),
    path("tokens/", tokens.token_list, name="kurrent-tokens"),
    path("tokens/<int:token_id>/revoke/", tokens.token_revoke, name="kurrent-token-revoke"),
    path("schemas/", schemas.schema_list, name="kurrent-schemas"),
    path("schemas/<str:entry_type>/", schemas.schema_detail, name="kurrent-schema"),
    path(
        "schemas/<str:entry_type>/replace/", schemas.schema_replace, name="kurrent-schema-replace"
    ),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="kurrent-dashboard", permanent=False)),
    path("kurrent-db-demo/", include(dashboard_urls)),
]
