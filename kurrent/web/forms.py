"""Forms of the dashboard. They check shape only; the services own the rules
(tag syntax, JSON size, ownership) and report breaches as ValidationError,
which kurrent.web.outcomes attaches to the field it names."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms

PAGE_SIZES = (10, 20, 50, 100)
DEFAULT_PAGE_SIZE = 20
ENTRY_TYPES = ("profile", "preferences", "settings", "data", "custom")


def new_idempotency_key() -> str:
    """One per rendered form: resubmitting the same form appends at most once."""
    return str(uuid.uuid4())


def retry_form(form_class: type[forms.Form], data: Any, current_version: int) -> forms.Form:
    """After a Conflict: every value the user typed (`data`, the POST), moved onto the
    current version with a new idempotency key, so saving again is a deliberate choice,
    never a silent overwrite."""
    data = data.copy()
    data["expected_version"] = str(current_version)
    data["idempotency_key"] = new_idempotency_key()
    retry = form_class(data)
    retry.is_valid()
    return retry


def fresh_key_form(form_class: type[forms.Form], data: Any) -> forms.Form:
    """After AlreadySubmitted: every value the user typed (`data`, the POST) under a new
    idempotency key, bound so the page shows them; sending it again is a new submission."""
    data = data.copy()
    data["idempotency_key"] = new_idempotency_key()
    form = form_class(data)
    form.is_valid()
    return form


def delete_form(item: Any) -> DeleteForm:
    """The confirmation of deleting `item` (a record or entry) at the version shown."""
    return DeleteForm(
        initial={"expected_version": item.version, "idempotency_key": new_idempotency_key()}
    )


class _JsonObjectField(forms.CharField):
    """A textarea holding a JSON object; cleans to a dict."""

    widget = forms.Textarea(attrs={"rows": 8, "spellcheck": "false"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("strip", False)
        super().__init__(*args, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value, indent=2, ensure_ascii=False)
        return value

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if value in self.empty_values:
            return {}
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"This is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            ) from None
        except RecursionError:
            raise forms.ValidationError("This JSON is nested too deeply.") from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError('Enter a JSON object, e.g. {"key": "value"}.')
        return parsed


class _TagsField(forms.CharField):
    """Tags typed as text, separated by commas or spaces; cleans to a list."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:
        value = super().to_python(value) or ""
        seen: list[str] = []
        for tag in value.replace(",", " ").split():
            if tag not in seen:
                seen.append(tag)
        return seen


def _page_size_field() -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        required=False,
        choices=[(n, str(n)) for n in PAGE_SIZES],
        coerce=int,
        empty_value=DEFAULT_PAGE_SIZE,
        label="Per page",
    )


class RecordForm(forms.Form):
    name = forms.CharField(max_length=200)
    data = _JsonObjectField(
        required=False, help_text='A JSON object, e.g. {"species": "emperor", "count": 3}.'
    )
    tags = _TagsField(required=False, help_text="Separated by commas or spaces: a-z, 0-9, - and _.")
    is_public = forms.BooleanField(required=False, label="Public (visible to every user)")
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)


class RecordEditForm(RecordForm):
    """The edit form carries the version the user saw; a newer one is a conflict."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class DeleteForm(forms.Form):
    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)


class RecordQueryForm(forms.Form):
    """The records list: search text, filters, page and page size, all in the URL."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    tag = forms.CharField(required=False, max_length=200)  # several: comma or space separated
    owner = forms.CharField(required=False, max_length=150)
    page = forms.IntegerField(required=False, min_value=1)
    size = _page_size_field()

    def values(self) -> dict[str, Any]:
        """Cleaned values with defaults; a bad value falls back on its own default
        rather than fail (the others are kept), since they come from links people edit
        by hand. A tag filter that is no tag is the service's to refuse (with a message)."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "q": (data.get("q") or "").strip(),
            "tag": (data.get("tag") or "").strip().lower(),
            "owner": (data.get("owner") or "").strip(),
            "page": data.get("page") or 1,
            "size": data.get("size") or DEFAULT_PAGE_SIZE,
        }


class DiffForm(forms.Form):
    from_version = forms.IntegerField(min_value=0, label="From version")
    to_version = forms.IntegerField(min_value=0, label="To version")


class EntryForm(forms.Form):
    entry_type = forms.ChoiceField(choices=[(t, t.capitalize()) for t in ENTRY_TYPES], label="Type")
    category = forms.CharField(max_length=100, help_text="A group inside the type, e.g. 'contact'.")
    value = _JsonObjectField(help_text='A JSON object, e.g. {"theme": "dark"}.')
    tags = _TagsField(required=False)
    is_public = forms.BooleanField(required=False, label="Public (listed in the directory)")
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)


class EntryEditForm(forms.Form):
    """The category is not here: with the type it names the entry, so it stays."""

    value = _JsonObjectField()
    tags = _TagsField(required=False)
    is_public = forms.BooleanField(required=False, label="Public (listed in the directory)")
    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)


class SchemaForm(forms.Form):
    """An admin's replacement of a user-data type's JSON Schema (the whole schema)."""

    schema = forms.CharField(
        label="JSON Schema",
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false"}),
        help_text="Draft 2020-12. A description on a pattern or format rule words its message.",
    )
    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)


class VisibilityForm(forms.Form):
    is_public = forms.BooleanField(required=False)
    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    # Optional: a post without one (an old page) still flips, without the replay guard.
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput, required=False)


class DirectoryQueryForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    type = forms.ChoiceField(
        required=False, choices=[("", "All types")] + [(t, t.capitalize()) for t in ENTRY_TYPES]
    )
    page = forms.IntegerField(required=False, min_value=1)


class EraseForm(forms.Form):
    """Erasing a user's data for good: the admin types the username to confirm."""

    # Not required by the form: an empty box gets the same "type the username" error.
    confirm_username = forms.CharField(
        max_length=150,
        required=False,
        label="Type the username to confirm",
        widget=forms.TextInput(attrs={"autocomplete": "off", "required": True}),
    )

    def __init__(self, *args: Any, owner: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner

    def clean_confirm_username(self) -> str:
        typed = self.cleaned_data.get("confirm_username") or ""
        if typed != self.owner.get_username():
            raise forms.ValidationError(
                f"Type the username “{self.owner.get_username()}” to confirm."
            )
        return typed


class SwitchEnvForm(forms.Form):
    env = forms.CharField(max_length=20)
    next = forms.CharField(required=False, max_length=2000)


class EventBrowserForm(forms.Form):
    """The raw event browser: a stream name (empty means $all) and paging cursor."""

    stream = forms.CharField(required=False, max_length=500, label="Stream")
    type = forms.CharField(required=False, max_length=200, label="Event type")
    system = forms.BooleanField(required=False, label="Show system streams and events")
    size = _page_size_field()
    # Paging: "first", "last", or "after"/"before" a position (a commit position
    # for $all, a stream revision for a stream).
    go = forms.ChoiceField(
        required=False,
        choices=[("first", "first"), ("last", "last"), ("after", "after"), ("before", "before")],
    )
    # $all's commit positions are unsigned 64-bit numbers; a stream's revisions are below 2^63.
    pos = forms.IntegerField(required=False, min_value=0, max_value=2**64 - 1)
    # Newest first unless asked; how data and metadata are shown without JS (?format=raw).
    order = forms.ChoiceField(
        required=False, choices=[("newest", "Newest first"), ("oldest", "Oldest first")]
    )
    format = forms.ChoiceField(required=False, choices=[("pretty", "pretty"), ("raw", "raw")])
