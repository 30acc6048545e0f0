"""Django admin over the read model.

The tables are the projector's: nothing here writes a row. Every change made in
the admin (the record form, the bulk actions) calls the services, so it becomes
an event in KurrentDB like any other, and the projector updates the row. Only
admins (kurrent.services.roles) see these pages, whatever their model permissions.

Over 500 lines on purpose: one ModelAdmin per read-model table, each small, and the
rule that every change goes through the services reads best in one place.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from kurrent.connection import config
from kurrent.core.errors import Conflict, KurrentError, ValidationError
from kurrent.models import (
    Activity,
    ProjectionCheckpoint,
    SkippedEvent,
    StreamRecord,
    UserDataEntry,
)
from kurrent.services import records, roles, userdata

_TAG_HELP = "Lower-case letters, digits, - and _ (at most 40 characters)."


class _AdminOnly:
    """Admin pages for kurrent admins only; the read-model rows are never edited directly."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return roles.is_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.is_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a row would only hide it until the next rebuild: deletes are
        # events, made by the "delete through the service" action.
        return False


class TagFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        from kurrent.models import RecordTag

        tags = RecordTag.objects.values_list("tag", flat=True).distinct().order_by("tag")[:50]
        return [(t, t) for t in tags]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value():
            return queryset.with_tags([self.value()])
        return queryset


# --- stream records ----------------------------------------------------------------


class StreamRecordForm(forms.ModelForm):
    """The admin's record form. Its clean() calls the service: a rejected write
    (bad input, conflict, KurrentDB down) becomes a form error on the page
    instead of a failure after validation, and nothing is stored directly."""

    env = forms.ChoiceField(choices=[])
    tags_text = forms.CharField(required=False, label="Tags", help_text=_TAG_HELP)
    data_text = forms.CharField(
        label="Data (JSON object)", widget=forms.Textarea(attrs={"rows": 12, "cols": 80})
    )
    expected_version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    idempotency_key = forms.CharField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = StreamRecord
        fields = ("name", "is_public")

    def __init__(self, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.fields["env"].choices = [(e, e) for e in config.environments()]
        self.written: Any = None
        if self.instance.pk:
            self.fields["env"].disabled = True
            self.initial.update(
                env=self.instance.env,
                tags_text=", ".join(self.instance.tags or []),
                data_text=json.dumps(self.instance.data, indent=2, ensure_ascii=False),
                expected_version=self.instance.version,
            )
        else:
            self.initial.setdefault("env", config.active_environment())
        self.initial.setdefault("idempotency_key", str(uuid.uuid4()))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors or self.request is None:
            return cleaned
        user = self.request.user
        fields = {
            "name": cleaned.get("name"),
            "data": cleaned.get("data_text"),
            "tags": cleaned.get("tags_text") or "",
            "is_public": bool(cleaned.get("is_public")),
            "idempotency_key": cleaned.get("idempotency_key") or None,
        }
        try:
            if self.instance.pk:
                expected = cleaned.get("expected_version")
                self.written = records.update_record(
                    user,
                    str(self.instance.record_id),
                    expected_version=self.instance.version if expected is None else expected,
                    env=self.instance.env,
                    **fields,
                )
            else:
                self.written = records.create_record(user, env=cleaned["env"], **fields)
        except ValidationError as exc:
            target = {"data": "data_text", "tags": "tags_text"}.get(exc.field, exc.field)
            self.add_error(target if target in self.fields else None, exc.message)
        except Conflict as exc:
            self.add_error(
                None,
                f"{exc} Open the record again to see the current values; nothing was saved.",
            )
        except KurrentError as exc:
            self.add_error(None, str(exc) or "KurrentDB could not take the change.")
        return cleaned


def _actions_page(
    request: HttpRequest,
    modeladmin: Any,
    queryset: Any,
    *,
    action: str,
    title: str,
    explanation: str,
    needs_tag: bool = False,
) -> HttpResponse:
    ctx = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "explanation": explanation,
        "objects": queryset,
        "action": action,
        "needs_tag": needs_tag,
        "tag": request.POST.get("tag", ""),
        "opts": modeladmin.model._meta,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "tag_help": _TAG_HELP,
    }
    return TemplateResponse(request, "admin/kurrent/confirm_action.html", ctx)


def _run_on_rows(
    request: HttpRequest,
    queryset: Any,
    verb: str,
    change: Callable[[Any], Any],
    *,
    nouns: tuple[str, str] = ("record", "records"),
    label: Callable[[Any], str] = attrgetter("name"),
) -> None:
    """Apply `change(row)` through the services to each row; one summary message, and the
    first ten failures (named by `label(row)`) as errors."""
    done, failed = 0, []
    for row in queryset:
        try:
            change(row)
            done += 1
        except KurrentError as exc:
            failed.append(f"{label(row)}: {getattr(exc, 'message', '') or exc}")
    if done:
        messages.success(request, f"{verb} {done} {nouns[0] if done == 1 else nouns[1]}.")
    for failure in failed[:10]:
        messages.error(request, failure)
    if len(failed) > 10:
        messages.error(request, f"…and {len(failed) - 10} more failed.")


def _confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirm") == "yes"


@admin.register(StreamRecord)
class StreamRecordAdmin(_AdminOnly, admin.ModelAdmin):
    form = StreamRecordForm
    list_display = (
        "name",
        "env",
        "owner_name",
        "is_public",
        "tag_list",
        "version",
        "updated_at",
        "deleted",
    )
    list_filter = ("env", "is_public", "deleted", TagFilter, "updated_at")
    search_fields = ("name", "owner_name", "=record_id", "data_text")
    ordering = ("-updated_at",)
    date_hierarchy = "updated_at"
    list_per_page = 50
    actions = ("delete_records", "add_tag", "remove_tag", "make_public", "make_private")
    change_form_template = "admin/kurrent/streamrecord/change_form.html"
    readonly_fields = (
        "record_id",
        "owner_name",
        "version",
        "created_at",
        "updated_at",
        "deleted",
        "dashboard_link",
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        editable = ("env", "name", "data_text", "tags_text", "is_public")
        hidden = ("expected_version", "idempotency_key")
        if obj is None:
            return [(None, {"fields": (*editable, *hidden)})]
        return [
            (None, {"fields": (*editable, *hidden)}),
            ("Stored", {"fields": self.readonly_fields}),
        ]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class WithRequest(form_class):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, request=request, **kw)

        return WithRequest

    def has_add_permission(self, request: HttpRequest) -> bool:
        return roles.is_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.is_admin(request.user) and not (obj is not None and obj.deleted)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The service already wrote the event in form.clean(); the projector
        # updated the row. Point the admin at that row.
        written = form.written
        if written is not None:
            row = StreamRecord.objects.get(env=written.env, record_id=written.id)
            obj.pk = row.pk
            obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # no related rows: tags are part of the event

    @admin.display(description="Tags")
    def tag_list(self, obj: StreamRecord) -> str:
        return ", ".join(obj.tags or [])

    @admin.display(description="Dashboard")
    def dashboard_link(self, obj: StreamRecord) -> str:
        return format_html(
            '<a href="{}">Open in the dashboard</a>',
            reverse("kurrent-record", args=[obj.record_id]),
        )

    def _history(self, request: HttpRequest, obj: StreamRecord) -> tuple[list, str]:
        try:
            return records.record_history(request.user, str(obj.record_id), env=obj.env), ""
        except KurrentError as exc:
            return [], str(exc) or "The history could not be read from KurrentDB."

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            history, error = self._history(request, obj)
            extra.update(event_history=list(reversed(history)), event_history_error=error)
        return super().change_view(request, object_id, form_url, extra)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        """The record's events from its KurrentDB stream (rather than admin log entries)."""
        obj = self.get_object(request, object_id)
        if obj is None or not self.has_view_permission(request, obj):
            raise PermissionDenied
        history, error = self._history(request, obj)
        ctx = {
            **self.admin_site.each_context(request),
            "title": f"History of {obj.name}",
            "object": obj,
            "opts": self.model._meta,
            "event_history": list(reversed(history)),
            "event_history_error": error,
        }
        return TemplateResponse(request, "admin/kurrent/streamrecord/object_history.html", ctx)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        found = super().get_actions(request)
        found.pop("delete_selected", None)  # it would delete rows, not append events
        return found

    @admin.action(description="Delete selected records (appends StreamDeleted)")
    def delete_records(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        queryset = queryset.filter(deleted=False)
        if not _confirmed(request):
            return _actions_page(
                request,
                self,
                queryset,
                action="delete_records",
                title="Delete these records?",
                explanation="Each record gets a StreamDeleted event: it leaves lists and "
                "searches, and its history is kept.",
            )
        _run_on_rows(
            request,
            queryset,
            "Deleted",
            lambda row: records.delete_record(
                request.user, str(row.record_id), expected_version=row.version, env=row.env
            ),
        )
        return None

    def _tag_action(self, request: HttpRequest, queryset: Any, *, add: bool) -> HttpResponse | None:
        action = "add_tag" if add else "remove_tag"
        tag = request.POST.get("tag", "").strip().lower()
        if not _confirmed(request) or not tag:
            if _confirmed(request):
                messages.error(request, "Enter a tag.")
            return _actions_page(
                request,
                self,
                queryset,
                action=action,
                title="Add a tag to these records" if add else "Remove a tag from these records",
                explanation="Each changed record gets a StreamUpdated event.",
                needs_tag=True,
            )

        def change(row: StreamRecord) -> None:
            tags = list(row.tags or [])
            if add and tag not in tags:
                tags.append(tag)
            elif not add and tag in tags:
                tags.remove(tag)
            else:
                return
            records.update_record(
                request.user,
                str(row.record_id),
                expected_version=row.version,
                tags=tags,
                env=row.env,
            )

        _run_on_rows(request, queryset.filter(deleted=False), "Updated", change)
        return None

    @admin.action(description="Add a tag to selected records")
    def add_tag(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._tag_action(request, queryset, add=True)

    @admin.action(description="Remove a tag from selected records")
    def remove_tag(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._tag_action(request, queryset, add=False)

    def _visibility(self, request: HttpRequest, queryset: Any, public: bool) -> HttpResponse | None:
        action = "make_public" if public else "make_private"
        queryset = queryset.filter(deleted=False)
        if not _confirmed(request):
            return _actions_page(
                request,
                self,
                queryset,
                action=action,
                title=f"Make these records {'public' if public else 'private'}?",
                explanation="Public records are readable by every signed-in user; private "
                "ones by their owner and admins. Each changed record gets a StreamUpdated event.",
            )
        _run_on_rows(
            request,
            queryset.exclude(is_public=public),
            "Updated",
            lambda row: records.update_record(
                request.user,
                str(row.record_id),
                expected_version=row.version,
                is_public=public,
                env=row.env,
            ),
        )
        return None

    @admin.action(description="Make selected records public")
    def make_public(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._visibility(request, queryset, True)

    @admin.action(description="Make selected records private")
    def make_private(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._visibility(request, queryset, False)


# --- user data -----------------------------------------------------------------------


@admin.register(UserDataEntry)
class UserDataEntryAdmin(_AdminOnly, admin.ModelAdmin):
    list_display = (
        "owner_name",
        "entry_type",
        "category",
        "env",
        "is_public",
        "version",
        "updated_at",
        "deleted",
    )
    list_filter = ("env", "entry_type", "is_public", "deleted")
    search_fields = ("owner_name", "category", "key", "search_text", "=entry_id")
    ordering = ("-updated_at",)
    actions = ("delete_entries", "make_public", "make_private")
    readonly_fields = (
        "entry_id",
        "env",
        "owner_name",
        "entry_type",
        "category",
        "key",
        "pretty_value",
        "tags",
        "is_public",
        "version",
        "created_at",
        "updated_at",
        "deleted",
    )
    exclude = ("value", "owner", "search_text", "last_event_id", "position")

    @admin.display(description="Value")
    def pretty_value(self, obj: UserDataEntry) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.value, indent=2, ensure_ascii=False))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        found = super().get_actions(request)
        found.pop("delete_selected", None)
        return found

    def _run(self, request: HttpRequest, queryset: Any, verb: str, change: Any) -> None:
        _run_on_rows(request, queryset, verb, change, nouns=("entry", "entries"), label=str)

    @admin.action(description="Delete selected entries (appends UserDataDeleted)")
    def delete_entries(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        queryset = queryset.filter(deleted=False)
        if not _confirmed(request):
            return _actions_page(
                request,
                self,
                queryset,
                action="delete_entries",
                title="Delete these entries?",
                explanation="Each entry gets a UserDataDeleted event; its history is kept.",
            )
        self._run(
            request,
            queryset,
            "Deleted",
            lambda row: userdata.delete_entry(
                request.user, str(row.entry_id), expected_version=row.version, env=row.env
            ),
        )
        return None

    def _visibility(self, request: HttpRequest, queryset: Any, public: bool) -> HttpResponse | None:
        queryset = queryset.filter(deleted=False)
        if not _confirmed(request):
            return _actions_page(
                request,
                self,
                queryset,
                action="make_public" if public else "make_private",
                title=f"Make these entries {'public' if public else 'private'}?",
                explanation="Public entries are listed in the directory.",
            )
        self._run(
            request,
            queryset.exclude(is_public=public),
            "Updated",
            lambda row: userdata.update_entry(
                request.user,
                str(row.entry_id),
                expected_version=row.version,
                is_public=public,
                env=row.env,
            ),
        )
        return None

    @admin.action(description="Make selected entries public")
    def make_public(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._visibility(request, queryset, True)

    @admin.action(description="Make selected entries private")
    def make_private(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._visibility(request, queryset, False)


# --- projector state (read only) ----------------------------------------------------------


@admin.register(ProjectionCheckpoint)
class ProjectionCheckpointAdmin(_AdminOnly, admin.ModelAdmin):
    list_display = (
        "env",
        "position",
        "events_applied",
        "skipped_events",
        "last_event_at",
        "updated_at",
    )


@admin.register(Activity)
class ActivityAdmin(_AdminOnly, admin.ModelAdmin):
    list_display = ("position", "env", "event_type", "title", "actor_name", "recorded_at")
    list_filter = ("env", "kind", "event_type")
    search_fields = ("title", "actor_name", "stream_name", "=object_id")
    ordering = ("-position",)


@admin.register(SkippedEvent)
class SkippedEventAdmin(_AdminOnly, admin.ModelAdmin):
    """Events the projector could not apply: what, where and why (read only; only a
    rebuild writes them again)."""

    list_display = ("skipped_at", "env", "reason", "event_type", "stream_name", "revision")
    list_filter = ("env", "reason", "event_type")
    search_fields = ("stream_name", "=event_id", "detail")
    ordering = ("-position",)
    readonly_fields = (
        "env",
        "stream_name",
        "revision",
        "position",
        "event_type",
        "event_id",
        "reason",
        "detail",
        "skipped_at",
    )
