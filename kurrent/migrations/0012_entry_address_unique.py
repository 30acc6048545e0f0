"""(user, type, category) names one user-data entry: a unique constraint on live rows.

Before it, storing profile/about twice made two entries. Duplicates already in the read
model are resolved as a rebuild resolves them from the events: the entry stored first
keeps the address, and every later live entry at the same address leaves the read model
(its events stay in KurrentDB, readable in the event browser) and is recorded as a
skipped event (reason database_rejected, as the projector records the same event when
the constraint refuses it in a rebuild), so admins see what left and where it is.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import migrations, models


def _drop_duplicates(apps, schema_editor) -> None:
    entry_model = apps.get_model("kurrent", "UserDataEntry")
    skipped_model = apps.get_model("kurrent", "SkippedEvent")
    holders: set[tuple] = set()
    now = datetime.now(UTC)
    live = entry_model.objects.filter(deleted=False).order_by("created_at", "position", "id")
    for row in live.iterator():
        address = (row.env, row.owner_id, row.entry_type, row.category)
        if address not in holders:
            holders.add(address)
            continue
        stream = f"userdata-{row.owner_id}-{row.entry_id}"
        skipped_model.objects.get_or_create(
            env=row.env,
            position=row.position,
            defaults={
                "stream_name": stream[:200],
                "revision": row.version,
                "event_type": "UserDataStored",
                "event_id": row.last_event_id[:36],
                "reason": "database_rejected",
                "detail": (
                    f"a second {row.entry_type}/{row.category} entry of user {row.owner_id}: "
                    f"(user, type, category) names one entry, the first stored keeps it; "
                    f"this one's events stay in {stream}"
                )[:2000],
                "skipped_at": now,
            },
        )
        row.delete()


class Migration(migrations.Migration):
    dependencies = [("kurrent", "0011_skipped_events")]

    operations = [
        migrations.RunPython(_drop_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="userdataentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("deleted", False)),
                fields=("env", "owner", "entry_type", "category"),
                name="kurrent_entry_address",
            ),
        ),
    ]
