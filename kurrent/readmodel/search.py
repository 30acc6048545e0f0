"""Full-text search over stream records: name, tags and the text values inside `data`.

Every word of the query must match (the last one as a prefix, for typing as-you-go),
stemmed, English stop words dropped. Only the read model is queried; visibility, owner
and tag filters are applied in the same queries, so totals and pages are right.

Order: relevance as a tier, by where the words were found, then most recently changed
(updated_at, then id, both descending):

1. "name": every word in the name;
2. "tags": every word in the name or the tags (and not tier 1);
3. "data": the rest (some word only in the text inside data).

Why tiers and not bm25 / ts_rank: a score needs every match read and scored, and a common
word matches a fifth of all records (105 ms p95 at 100,000 records). A tier is a question
the index answers, and the recency order inside it can be read from the newest end of an
index, stopping after the page.

Totals are exact up to CAP (or up to the end of the page asked for, past it); beyond,
Result.exact is False and the total is a lower bound, shown as "1000+".

For each tier the page reaches, one of two plans, chosen by how many matches it has
(counted up to a bound growing with `need`, its rows up to the end of the page):
- sort: fewer matches than that: all of them, filtered and sorted by recency;
- walk: more: the (env, updated_at) index read from the newest, keeping the tier's
  matches; it reads about need / matches of the environment's records.

SQLite: two FTS5 tables kept by triggers (migrations 0009, 0010): kurrent_record_fts (name, tags,
body) and kurrent_record_head (name, tags); rowid = StreamRecord.id.
PostgreSQL: the narrow RecordSearch table kept by a trigger: search_vector (all the text,
stripped), head_vector (name weight A, tags weight B) and tags, each with a GIN index, and
kurrent_search_recent (env, updated_at, record_pk) for walks.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

from kurrent.models import RecordSearch, RecordTag, StreamRecord

CONFIG = "english"
MAX_TERMS = 12
CAP = 1000  # totals are counted exactly up to here
# Walk a tier when it has more than WALK * sqrt(need) matches (and more than `need`, so
# that a tier counted up to there reaches past the end of the page). A walk reads about
# need * N / matches index entries (N: the environment's records), a sort every match:
# measured per row, they break even near 100 * sqrt(need) matches at N = 100,000.
WALK = 100
TIERS = ("name", "tags", "data")
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


def terms(query: str) -> list[str]:
    """The words of a query, lower-cased, without stop words, at most MAX_TERMS of them."""
    words = [t.lower() for t in _WORD.findall(query or "")]
    return [w for w in words if w not in STOP_WORDS][:MAX_TERMS]


_ID_PREFIX = re.compile(r"[0-9a-f]{8,32}")


def id_range(query: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The record ids a query names: an id or its first 8 or more hex digits, with or
    without the dashes where an id has them, as the lowest and highest id starting so;
    None: not an id (a word)."""
    text = (query or "").strip().lower()
    digits = text.replace("-", "")
    if not _ID_PREFIX.fullmatch(digits):
        return None
    low = uuid.UUID(digits.ljust(32, "0"))
    if "-" in text and not str(low).startswith(text):
        return None  # dashes where no id has them
    return low, uuid.UUID(digits.ljust(32, "f"))


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@dataclass(frozen=True)
class Filters:
    env: str
    viewer_id: int | None  # None: an admin, who sees private records too
    owner_id: int | None = None
    tags: Sequence[str] = ()


@dataclass(frozen=True)
class Result:
    pks: list[int]  # StreamRecord primary keys of the page, in order
    total: int  # exact, or a lower bound when not `exact`
    exact: bool


def search(words: list[str], filters: Filters, *, offset: int, limit: int) -> Result:
    """One page of matching StreamRecord rows, best first, and the total."""
    if not words:
        return Result([], 0, True)
    db: _Backend = _Postgres(words, filters) if is_postgres() else _SQLite(words, filters)
    end = offset + limit
    counted_to = max(CAP, end) + 1
    # The total and the first tier's size in one statement (one round trip).
    total, first = db.counts([("all", counted_to), (TIERS[0], _bound(end))])
    exact = total < counted_to
    total = min(total, counted_to - 1)
    if total <= offset:
        return Result([], total, exact)
    pks: list[int] = []
    start = 0  # position of the tier's first row in the whole order
    for tier in TIERS:
        need = end - start  # rows of this tier up to the end of the page
        bound = _bound(need)
        if tier == TIERS[0]:
            size = first
        elif tier != TIERS[-1]:
            size = db.counts([(tier, bound)])[0]
        else:  # the rest of the total: its size, or at least that when not exact
            size = total - start
            if not exact and size < bound:
                size = db.counts([(tier, bound)])[0]
        skip = max(0, offset - start)
        take = min(size, need) - skip
        if take > 0:
            pks += db.fetch(tier, skip, take, walk=size >= bound)
        start += size  # exact when the loop goes on: size < bound and need < bound
        if start >= end:
            break
    return Result(pks, total, exact)


def _bound(need: int) -> int:
    """Count a tier up to here: fewer matches are sorted, this many walked."""
    return max(need, int(WALK * math.sqrt(need))) + 1


class _Backend:
    def count_sql(self, tier: str) -> tuple[str, list[object]]:
        """SELECT 1 for each match of the tier (filters applied)."""
        raise NotImplementedError

    def fetch(self, tier: str, offset: int, limit: int, *, walk: bool) -> list[int]:
        raise NotImplementedError

    def counts(self, tiers: list[tuple[str, int]]) -> list[int]:
        """How many matches each tier has, counting up to the number given."""
        parts, params = [], []
        for tier, up_to in tiers:
            sql, tier_params = self.count_sql(tier)
            parts.append(f"(SELECT count(*) FROM ({sql} LIMIT %s) s)")  # noqa: S608
            params += [*tier_params, up_to]
        return list(self._rows(f"SELECT {', '.join(parts)}", params)[0])

    @staticmethod
    def _rows(sql: str, params: list[object]) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


# --- SQLite FTS5 ---------------------------------------------------------------------

_RECORDS = StreamRecord._meta.db_table
_TAGS = RecordTag._meta.db_table


def _fts_query(words: list[str]) -> str:
    # Quoted terms cannot be operators; FTS5 ANDs adjacent terms.
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


class _SQLite(_Backend):
    """Matches come from an FTS5 table; env, deletion and visibility from the record
    indexes (kurrent_rec_search_cover by id for counts and sorts, kurrent_rec_list or
    kurrent_rec_owner in recency order for walks), named so the plan cannot drift."""

    def __init__(self, words: list[str], filters: Filters) -> None:
        q = _fts_query(words)
        self.matches = {
            "all": ("kurrent_record_fts", q),
            "name": ("kurrent_record_head", f"{{name}}: ({q})"),
            "tags": ("kurrent_record_head", f"({q}) NOT {{name}}: ({q})"),
            "data": ("kurrent_record_fts", f"({q}) NOT {{name tags}}: ({q})"),
        }
        self.filters = filters
        where = ["r.env = %s", "r.deleted = 0"]
        params: list[object] = [filters.env]
        if filters.viewer_id is not None:
            where.append("(r.is_public = 1 OR r.owner_id = %s)")
            params.append(filters.viewer_id)
        if filters.owner_id is not None:
            where.append("r.owner_id = %s")
            params.append(filters.owner_id)
        self.where, self.params = " AND ".join(where), params
        # Tags are checked on the match's id, before its record row is looked up. The
        # unary + keeps SQLite from handing the ids to FTS5 as rowid lookups, one full
        # query each (4.5 s for a common word and a tag on 2,500 records).
        tagged = f"IN (SELECT record_id FROM {_TAGS} WHERE tag = %s)"  # noqa: S608
        self.tag_sql = "".join(f" AND +{{id}} {tagged}" for _ in filters.tags)
        self.tag_params = list(filters.tags)

    def _ids(self, tier: str) -> tuple[str, list[object]]:
        table, match = self.matches[tier]
        return f"SELECT rowid AS id FROM {table} WHERE {table} MATCH %s", [match]  # noqa: S608

    def _joined(self, tier: str) -> tuple[str, list[object]]:
        ids, params = self._ids(tier)
        sql = (
            f"FROM ({ids}) m CROSS JOIN {_RECORDS} r INDEXED BY kurrent_rec_search_cover "
            f"ON r.id = m.id WHERE {self.where}{self.tag_sql.format(id='m.id')}"
        )
        return sql, [*params, *self.params, *self.tag_params]

    def count_sql(self, tier: str) -> tuple[str, list[object]]:
        joined, params = self._joined(tier)
        return f"SELECT 1 {joined}", params

    def fetch(self, tier: str, offset: int, limit: int, *, walk: bool) -> list[int]:
        order = "ORDER BY r.updated_at DESC, r.id DESC LIMIT %s OFFSET %s"
        if walk:
            ids, id_params = self._ids(tier)
            index = "kurrent_rec_owner" if self.filters.owner_id is not None else "kurrent_rec_list"
            sql = (
                f"SELECT r.id FROM {_RECORDS} r INDEXED BY {index} WHERE {self.where}"  # noqa: S608
                f"{self.tag_sql.format(id='r.id')} AND r.id IN ({ids}) {order}"
            )
            params = [*self.params, *self.tag_params, *id_params]
        else:
            joined, params = self._joined(tier)
            sql = f"SELECT r.id {joined} {order}"
        return [row[0] for row in self._rows(sql, [*params, limit, offset])]


# --- PostgreSQL ----------------------------------------------------------------------

_SEARCH = RecordSearch._meta.db_table


def _tsquery(words: list[str], weight: str = "") -> str:
    """Every word (the last as a prefix), only in lexemes of `weight` if given."""
    label = f":{weight}" if weight else ""
    parts = [f"'{w}'{label}" for w in words[:-1]]
    parts.append(f"'{words[-1]}':*{weight}")
    return " & ".join(parts)


class _Postgres(_Backend):
    """Counts and sorts find the matches with a GIN index (`@@`); walks read
    kurrent_search_recent and test each row with ts_match_vq, the function behind `@@`,
    which no index can answer, so the planner cannot turn a walk back into a sort."""

    # (vector, query) pairs that must match and must not.
    _TIERS = {
        "all": ([("search_vector", "q")], []),
        "name": ([("head_vector", "qa")], []),
        "tags": ([("head_vector", "q")], [("head_vector", "qa")]),
        "data": ([("search_vector", "q")], [("head_vector", "q")]),
    }

    def __init__(self, words: list[str], filters: Filters) -> None:
        self.queries = {"q": _tsquery(words), "qa": _tsquery(words, "A")}
        where = ["env = %s"]
        params: list[object] = [filters.env]
        if filters.viewer_id is not None:
            where.append("(is_public OR owner_id = %s)")
            params.append(filters.viewer_id)
        if filters.owner_id is not None:
            where.append("owner_id = %s")
            params.append(filters.owner_id)
        if filters.tags:  # every one of them: containment, answered by a GIN index
            where.append("tags @> %s::jsonb")
            params.append(json.dumps(list(filters.tags)))
        self.where, self.params = " AND ".join(where), params

    def _where(self, tier: str, *, walk: bool) -> tuple[str, list[object]]:
        must, must_not = self._TIERS[tier]
        query = f"to_tsquery('{CONFIG}'::regconfig, %s)"
        test = "ts_match_vq({}, " + query + ")" if walk else "{} @@ " + query
        parts = [test.format(v) for v, _ in must]
        parts += [f"NOT {test.format(v)}" for v, _ in must_not]
        params = [self.queries[q] for _, q in must + must_not]
        return f"{self.where} AND {' AND '.join(parts)}", [*self.params, *params]

    def count_sql(self, tier: str) -> tuple[str, list[object]]:
        where, params = self._where(tier, walk=False)
        return f"SELECT 1 FROM {_SEARCH} WHERE {where}", params  # noqa: S608

    def fetch(self, tier: str, offset: int, limit: int, *, walk: bool) -> list[int]:
        where, params = self._where(tier, walk=walk)
        order = "ORDER BY updated_at DESC, record_pk DESC LIMIT %s OFFSET %s"
        if walk:
            sql = f"SELECT record_pk FROM {_SEARCH} WHERE {where} {order}"  # noqa: S608
        else:  # MATERIALIZED: the matches first (GIN), then the sort
            sql = (
                f"WITH m AS MATERIALIZED (SELECT record_pk, updated_at FROM {_SEARCH} "  # noqa: S608
                f"WHERE {where}) SELECT record_pk FROM m {order}"
            )
        return [row[0] for row in self._rows(sql, [*params, limit, offset])]
