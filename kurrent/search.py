"""Full-text search over stream records: name, tags and the text values inside `data`.

SQLite: the FTS5 table `kurrent_record_fts` (migration 0002, kept by triggers),
ranked by bm25 with name weighted above tags above data.
PostgreSQL: the narrow RecordSearch table (search_vector with weights A, B, C; GIN
index), kept by a trigger (migration 0005), queried with SearchQuery and ranked
with SearchRank.

Both: every word of the query must match (the last one as a prefix, for typing
as-you-go), stemmed; relevance first, then most recently changed. Only the read model
is queried; visibility filtering happens in the same query so totals and pages are
right.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from kurrent.models import RecordSearch, RecordTag, StreamRecord

CONFIG = "english"
MAX_TERMS = 12
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# PostgreSQL's English stop words: dropped from queries on both databases, so a query
# finds the same records on SQLite (which indexes them) as on PostgreSQL (which does not).
_STOP_WORDS_TEXT = """
i me my myself we our ours ourselves you your yours yourself yourselves he him his
himself she her hers herself it its itself they them their theirs themselves what which
who whom this that these those am is are was were be been being have has had having do
does did doing a an the and but if or because as until while of at by for with about
against between into through during before after above below to from up down in out on
off over under again further then once here there when where why how all any both each
few more most other some such no nor not only own same so than too very s t can will just
don should now
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
# Weights by column: name, tags, data text (FTS5 bm25 takes them in column order).
BM25_WEIGHTS = (10.0, 5.0, 1.0)


def terms(query: str) -> list[str]:
    """The words of a query, lower-cased, without stop words, at most MAX_TERMS of them."""
    words = [t.lower() for t in _WORD.findall(query or "")]
    return [w for w in words if w not in STOP_WORDS][:MAX_TERMS]


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@dataclass(frozen=True)
class Filters:
    env: str
    viewer_id: int | None  # None: an admin, who sees private records too
    owner_id: int | None = None
    tags: Sequence[str] = ()


def search(words: list[str], filters: Filters, *, offset: int, limit: int) -> tuple[list[int], int]:
    """Primary keys of one page of matching StreamRecord rows, best first, and the total."""
    if not words:
        return [], 0
    if is_postgres():
        return _search_postgres(words, filters, offset=offset, limit=limit)
    return _search_sqlite(words, filters, offset=offset, limit=limit)


# --- SQLite FTS5 ---------------------------------------------------------------------


def _fts_query(words: list[str]) -> str:
    # Quoted terms cannot be operators; FTS5 ANDs adjacent terms.
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def _search_sqlite(
    words: list[str], filters: Filters, *, offset: int, limit: int
) -> tuple[list[int], int]:
    record = StreamRecord._meta.db_table
    tag = RecordTag._meta.db_table
    where = [
        "kurrent_record_fts MATCH %s",
        f"{record}.env = %s",
        f"{record}.deleted = 0",
    ]
    params: list[object] = [_fts_query(words), filters.env]
    if filters.viewer_id is not None:
        where.append(f"({record}.is_public = 1 OR {record}.owner_id = %s)")
        params.append(filters.viewer_id)
    if filters.owner_id is not None:
        where.append(f"{record}.owner_id = %s")
        params.append(filters.owner_id)
    for name in filters.tags:
        where.append(f"{record}.id IN (SELECT record_id FROM {tag} WHERE tag = %s)")  # noqa: S608
        params.append(name)
    # CROSS JOIN fixes the loop order: matches first, then their rows by primary key
    # (left to itself SQLite walks the env index and runs the MATCH once per row), and
    # the covering index answers the filters without reading the wide rows (migration 0003).
    base = (
        f"FROM kurrent_record_fts CROSS JOIN {record} INDEXED BY kurrent_rec_search_cover "
        f"ON {record}.id = kurrent_record_fts.rowid "
        f"WHERE {' AND '.join(where)}"
    )
    weights = ", ".join(str(w) for w in BM25_WEIGHTS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) {base}", params)
        total = cursor.fetchone()[0]
        if total == 0 or offset >= total:
            return [], total
        cursor.execute(
            f"SELECT {record}.id {base} "
            f"ORDER BY bm25(kurrent_record_fts, {weights}), {record}.updated_at DESC, "
            f"{record}.id DESC LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        return [row[0] for row in cursor.fetchall()], total


# --- PostgreSQL ----------------------------------------------------------------------


def _tsquery(words: list[str]) -> SearchQuery:
    parts = [f"'{w}'" for w in words]
    parts[-1] += ":*"
    return SearchQuery(" & ".join(parts), search_type="raw", config=CONFIG)


def _search_postgres(
    words: list[str], filters: Filters, *, offset: int, limit: int
) -> tuple[list[int], int]:
    """Only the narrow RecordSearch rows are read (it holds live records only)."""
    query = _tsquery(words)
    qs = RecordSearch.objects.filter(env=filters.env, search_vector=query)
    if filters.viewer_id is not None:
        qs = qs.filter(Q(is_public=True) | Q(owner_id=filters.viewer_id))
    if filters.owner_id is not None:
        qs = qs.filter(owner_id=filters.owner_id)
    for tag in filters.tags:
        qs = qs.filter(record_id__in=RecordTag.objects.filter(tag=tag).values("record_id"))
    total = qs.count()
    if total == 0 or offset >= total:
        return [], total
    ranked = qs.annotate(rank=Coalesce(SearchRank(F("search_vector"), query), Value(0.0))).order_by(
        "-rank", "-updated_at", "-record_id"
    )
    return list(ranked.values_list("record_id", flat=True)[offset : offset + limit]), total
