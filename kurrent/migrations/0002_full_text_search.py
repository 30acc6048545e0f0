"""Full-text search over stream records, one way per database vendor.

SQLite: an FTS5 table (porter stemming, diacritics folded) whose rowid is
StreamRecord.id, kept by triggers, so every write of the projector (bulk or not,
and a rebuild's deletes) keeps it in step inside the same transaction. Deleted
records are left out of it.

PostgreSQL: a GIN index on StreamRecord.search_vector, which the projector fills
with SearchVector(name A, tags B, data text C) in the same transaction.
"""

from django.db import migrations

SQLITE_FORWARD = [
    """
    CREATE VIRTUAL TABLE kurrent_record_fts USING fts5(
        name, tags, body, tokenize = 'porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER kurrent_record_fts_insert AFTER INSERT ON kurrent_streamrecord
    WHEN new.deleted = 0 BEGIN
        INSERT INTO kurrent_record_fts (rowid, name, tags, body)
        VALUES (new.id, new.name, new.tags, new.data_text);
    END
    """,
    """
    CREATE TRIGGER kurrent_record_fts_delete AFTER DELETE ON kurrent_streamrecord BEGIN
        DELETE FROM kurrent_record_fts WHERE rowid = old.id;
    END
    """,
    """
    CREATE TRIGGER kurrent_record_fts_update
    AFTER UPDATE OF name, tags, data_text, deleted ON kurrent_streamrecord BEGIN
        DELETE FROM kurrent_record_fts WHERE rowid = old.id;
        INSERT INTO kurrent_record_fts (rowid, name, tags, body)
        SELECT new.id, new.name, new.tags, new.data_text WHERE new.deleted = 0;
    END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS kurrent_record_fts_update",
    "DROP TRIGGER IF EXISTS kurrent_record_fts_delete",
    "DROP TRIGGER IF EXISTS kurrent_record_fts_insert",
    "DROP TABLE IF EXISTS kurrent_record_fts",
]
POSTGRES_FORWARD = [
    "CREATE INDEX kurrent_rec_search ON kurrent_streamrecord USING GIN (search_vector)",
]
POSTGRES_BACKWARD = ["DROP INDEX IF EXISTS kurrent_rec_search"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("kurrent", "0001_read_model")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
    ]
