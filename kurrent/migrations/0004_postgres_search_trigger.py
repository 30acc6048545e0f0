"""PostgreSQL: the database keeps StreamRecord.search_vector, as SQLite's triggers keep
the FTS5 table (0002), in the same statement as the row write.

The projector used to refresh the vector with a second UPDATE per write; on the
writer's path that was one more round trip to PostgreSQL (0.4 ms each here) than
needed. The weights and configuration are those search.py queries with: name A,
tags B, the text inside data C, 'english'.
"""

from django.db import migrations

VECTOR = (
    "setweight(to_tsvector('english'::regconfig, COALESCE(NEW.name, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, COALESCE(NEW.tags::text, '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, COALESCE(NEW.data_text, '')), 'C')"
)
POSTGRES_FORWARD = [
    f"""
    CREATE FUNCTION kurrent_record_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_vector := {VECTOR};
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER kurrent_record_search_vector
    BEFORE INSERT OR UPDATE OF name, tags, data_text ON kurrent_streamrecord
    FOR EACH ROW EXECUTE FUNCTION kurrent_record_search_vector()
    """,
    # Rows written before this migration: fire the trigger once.
    "UPDATE kurrent_streamrecord SET name = name",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS kurrent_record_search_vector ON kurrent_streamrecord",
    "DROP FUNCTION IF EXISTS kurrent_record_search_vector()",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("kurrent", "0003_covering_indexes")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD}), _run({"postgresql": POSTGRES_BACKWARD})
        ),
    ]
