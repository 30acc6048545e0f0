"""Search finds what people type: a word being typed, whatever stemming does, and numbers.

- A prefix of a word matches it even where the stem is shorter than the prefix
  ("breaki" finds "breaking", whose stem is "break"): SQLite indexes each word's
  unstemmed form beside its stem (kurrent.readmodel.searchwords, a function the
  triggers call); PostgreSQL adds a 'simple' (unstemmed) vector to the English one.
- Numbers inside `data` are indexed with its text ({"count": 42} is found by "42").

Both search tables are derived again from the records (no read-model row changes: the
records are read, only the search index is written, as the triggers do).
"""

from django.db import migrations

# --- SQLite ----------------------------------------------------------------------------
_NUMBERS = (
    "(SELECT group_concat(value, ' ') FROM json_tree({r}.data) WHERE type IN ('integer', 'real'))"
)
_BODY = "kurrent_fts_words({r}.data_text || ' ' || coalesce(" + _NUMBERS + ", ''))"
_WORDS = {
    "name": "kurrent_fts_words({r}.name)",
    "tags": "kurrent_fts_words({r}.tags)",
    "body": _BODY,
}


def _sqlite_statements(words: dict[str, str]) -> list[str]:
    def values(r: str, columns: tuple[str, ...]) -> str:
        return ", ".join(words[c].format(r=r) for c in columns)

    full, head = ("name", "tags", "body"), ("name", "tags")
    return [
        "DROP TRIGGER IF EXISTS kurrent_record_fts_insert",
        "DROP TRIGGER IF EXISTS kurrent_record_fts_update",
        f"""
        CREATE TRIGGER kurrent_record_fts_insert AFTER INSERT ON kurrent_streamrecord
        WHEN new.deleted = 0 BEGIN
            INSERT INTO kurrent_record_fts (rowid, name, tags, body)
            VALUES (new.id, {values("new", full)});
            INSERT INTO kurrent_record_head (rowid, name, tags)
            VALUES (new.id, {values("new", head)});
        END
        """,  # noqa: S608 (no input: constants)
        f"""
        CREATE TRIGGER kurrent_record_fts_update
        AFTER UPDATE OF name, tags, data, data_text, deleted ON kurrent_streamrecord
        WHEN old.name IS NOT new.name OR old.tags IS NOT new.tags
            OR old.data IS NOT new.data OR old.data_text IS NOT new.data_text
            OR old.deleted IS NOT new.deleted BEGIN
            DELETE FROM kurrent_record_fts WHERE rowid = old.id;
            DELETE FROM kurrent_record_head WHERE rowid = old.id;
            INSERT INTO kurrent_record_fts (rowid, name, tags, body)
            SELECT new.id, {values("new", full)} WHERE new.deleted = 0;
            INSERT INTO kurrent_record_head (rowid, name, tags)
            SELECT new.id, {values("new", head)} WHERE new.deleted = 0;
        END
        """,  # noqa: S608 (no input: constants)
        "DELETE FROM kurrent_record_fts",
        "DELETE FROM kurrent_record_head",
        f"INSERT INTO kurrent_record_fts (rowid, name, tags, body) "  # noqa: S608 (constants)
        f"SELECT r.id, {values('r', full)} FROM kurrent_streamrecord r WHERE r.deleted = 0",
        f"INSERT INTO kurrent_record_head (rowid, name, tags) "  # noqa: S608 (constants)
        f"SELECT r.id, {values('r', head)} FROM kurrent_streamrecord r WHERE r.deleted = 0",
    ]


_SQLITE_BEFORE = {"name": "{r}.name", "tags": "{r}.tags", "body": "{r}.data_text"}

# --- PostgreSQL ------------------------------------------------------------------------
_PG_NUMBERS = (
    "(SELECT string_agg(v #>> '{{}}', ' ') FROM "
    "jsonb_path_query({r}.data, 'strict $.** ? (@.type() == \"number\")') v)"
)
_PG_TEXT = "concat_ws(' ', {r}.name, {r}.tags::text, {r}.data_text, " + _PG_NUMBERS + ")"
SEARCH_VECTOR = (
    f"strip(to_tsvector('english'::regconfig, {_PG_TEXT}) || "
    f"to_tsvector('simple'::regconfig, {_PG_TEXT}))"
)
HEAD_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, COALESCE({r}.name, '')) || "
    "to_tsvector('simple'::regconfig, COALESCE({r}.name, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, COALESCE({r}.tags::text, '')) || "
    "to_tsvector('simple'::regconfig, COALESCE({r}.tags::text, '')), 'B')"
)


def _postgres_statements(search_vector: str, head_vector: str) -> list[str]:
    return [
        f"""
        CREATE OR REPLACE FUNCTION kurrent_record_search_sync() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                DELETE FROM kurrent_record_search WHERE record_pk = OLD.id;
            ELSIF NEW.deleted THEN
                DELETE FROM kurrent_record_search WHERE record_pk = NEW.id;
            ELSIF TG_OP = 'UPDATE' AND NOT OLD.deleted
                AND NEW.name IS NOT DISTINCT FROM OLD.name
                AND NEW.tags IS NOT DISTINCT FROM OLD.tags
                AND NEW.data IS NOT DISTINCT FROM OLD.data
                AND NEW.data_text IS NOT DISTINCT FROM OLD.data_text THEN
                UPDATE kurrent_record_search
                SET env = NEW.env, is_public = NEW.is_public, owner_id = NEW.owner_id,
                    updated_at = NEW.updated_at
                WHERE record_pk = NEW.id;
            ELSE
                INSERT INTO kurrent_record_search (record_pk, env, is_public, owner_id,
                    updated_at, search_vector, head_vector, tags)
                VALUES (NEW.id, NEW.env, NEW.is_public, NEW.owner_id, NEW.updated_at,
                    {search_vector.format(r="NEW")}, {head_vector.format(r="NEW")}, NEW.tags)
                ON CONFLICT (record_pk) DO UPDATE SET
                    env = EXCLUDED.env, is_public = EXCLUDED.is_public,
                    owner_id = EXCLUDED.owner_id, updated_at = EXCLUDED.updated_at,
                    search_vector = EXCLUDED.search_vector,
                    head_vector = EXCLUDED.head_vector, tags = EXCLUDED.tags;
            END IF;
            RETURN NULL;
        END
        $$
        """,  # noqa: S608 (no input: constants)
        f"""
        UPDATE kurrent_record_search s SET search_vector = {search_vector.format(r="r")},
            head_vector = {head_vector.format(r="r")}
        FROM kurrent_streamrecord r WHERE r.id = s.record_pk
        """,  # noqa: S608 (no input: constants)
    ]


def _forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        statements = _sqlite_statements(_WORDS)
    elif vendor == "postgresql":
        statements = _postgres_statements(SEARCH_VECTOR, HEAD_VECTOR)
    else:
        statements = []
    for statement in statements:
        schema_editor.execute(statement)


def _backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        statements = _sqlite_statements(_SQLITE_BEFORE)
    elif vendor == "postgresql":
        from importlib import import_module

        old = import_module("kurrent.migrations.0009_search_tiers")
        statements = _postgres_statements(old.SEARCH_VECTOR, old.HEAD_VECTOR)
    else:
        statements = []
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("kurrent", "0012_entry_address_unique")]

    operations = [migrations.RunPython(_forward, _backward)]
