"""Indexes that answer lists and searches without reading the (wide) record rows.

- kurrent_rec_list (both databases) replaces kurrent_rec_recent: the visibility columns
  ride along, so a list's COUNT(*) and page read the index only.
- SQLite: kurrent_rec_search_cover (id first) lets the FTS5 join check env, deletion and
  visibility for each match in the index; search.py names it (INDEXED BY). Measured on
  100,000 records: a common word's count 26 -> 9 ms, a list count 50 -> 10 ms.

Note: Django rebuilds a SQLite table for some later schema changes, which drops indexes
and triggers it does not know about: a migration that alters kurrent_streamrecord must
recreate this index and the FTS triggers of 0002.
"""

from django.db import migrations, models

SQLITE_FORWARD = [
    "CREATE INDEX kurrent_rec_search_cover ON kurrent_streamrecord "
    "(id, env, deleted, is_public, owner_id, updated_at)",
]
SQLITE_BACKWARD = ["DROP INDEX IF EXISTS kurrent_rec_search_cover"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("kurrent", "0002_full_text_search")]

    operations = [
        migrations.RemoveIndex(model_name="streamrecord", name="kurrent_rec_recent"),
        migrations.AddIndex(
            model_name="streamrecord",
            index=models.Index(
                fields=["env", "deleted", "-updated_at", "is_public", "owner"],
                name="kurrent_rec_list",
            ),
        ),
        migrations.RunPython(_run({"sqlite": SQLITE_FORWARD}), _run({"sqlite": SQLITE_BACKWARD})),
    ]
