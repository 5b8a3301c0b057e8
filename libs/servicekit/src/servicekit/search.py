"""Global search (SPEC H4), the part every service shares: checking a `portal.common.v1.SearchQuery`, turning what
the user typed into a prefix term query for PostgreSQL full text or SQLite FTS5, the indexes themselves (DDL for a
migration, the match subquery for a search), the snippet cut, and the answer with its truncated kinds.

Words are the runs of letters and digits of the query, lower-cased ("INV-0042" is "inv" and "0042"); each matches
as a prefix, all must match. Nothing the user typed reaches SQL as text: the term query is built from those words
only (no quote, operator or column filter can survive) and bound as a parameter. Both dialects tokenize the indexed
text the same way: SQLite's unicode61 tokenizer splits on everything but letters and digits, and PostgreSQL's
`simple` configuration gets the text with the usual separators (`SEPARATORS`) turned into spaces first, so
"INV-0042" is never read as the number -42 and "report.pdf" never as one host name.

An index is a `TextIndex(table, columns, key)`: on PostgreSQL a GIN expression index over the columns' tsvector,
on SQLite an external-content FTS5 table (`<table>_fts`) kept by three triggers on the table. A migration creates it
with `create_text_index(op, index)` (which also indexes the rows already there) and drops it with
`drop_text_index`. SQLite drops a table's triggers when Alembic's batch mode rebuilds the table, and the rebuilt
table's rowids may differ: a migration that batch-alters an indexed table calls `create_text_index` again after it
(it replaces the triggers and rebuilds the index from the table).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from portal.common.v1 import search_pb2
from servicekit.db import Database
from servicekit.errors import InvalidArgument, PermissionDenied
from servicekit.principal import Principal, Visibility, current_principal
from servicekit.protos import timestamp

QUERY_MAX = 200
LIMIT_DEFAULT = 5
LIMIT_MAX = 20
SNIPPET_MAX = 200
# More words than this: the rest are ignored (each one only narrows the hits further).
WORDS_MAX = 16
ID_MAX = 36
# Turned into spaces before PostgreSQL's parser sees the text (it would keep "a-b", "x.y", "u@h" as compounds).
SEPARATORS = "-_./@\\#+:"

_WORD = re.compile(r"[^\W_]+")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class Query:
    """A checked SearchQuery: the trimmed text, its words, the kinds wanted, hits per kind, and the staff's
    customer (empty: every customer; always empty for a portal user)."""

    text: str
    words: tuple[str, ...]
    kinds: tuple[str, ...]
    limit: int
    customer_id: str

    @property
    def exact(self) -> str:
        """The whole query lower-cased: a record number or serial equal to it ranks first."""
        return self.text.lower()

    @property
    def prefix_pattern(self) -> str:
        """A LIKE pattern (escape character backslash) for record numbers or serials that start with the query."""
        return escape_like(self.text.lower()) + "%"


def parse_query(msg: search_pb2.SearchQuery, *, kinds: Sequence[str], staff: bool) -> Query:
    """Check the query against the contract; INVALID_ARGUMENT naming the field for anything out of it."""
    text = " ".join(msg.query.split())
    if not text:
        raise InvalidArgument("type something to search for", field="query")
    if len(text) > QUERY_MAX:
        raise InvalidArgument(f"the search must be at most {QUERY_MAX} characters", field="query")
    if "\x00" in text:
        raise InvalidArgument("the search must not contain NUL characters", field="query")
    wanted: list[str] = []
    for kind in msg.kinds:
        if kind not in kinds:
            raise InvalidArgument(f"unknown kind {kind[:40]!r}; this service has {', '.join(kinds)}", field="kinds")
        if kind not in wanted:
            wanted.append(kind)
    limit = msg.limit_per_kind or LIMIT_DEFAULT
    if not 1 <= limit <= LIMIT_MAX:
        raise InvalidArgument(f"limit_per_kind must be between 1 and {LIMIT_MAX}", field="limit_per_kind")
    customer_id = msg.customer_id.strip() if staff else ""
    if len(customer_id) > ID_MAX or "\x00" in customer_id:
        raise InvalidArgument("customer_id is not a valid id", field="customer_id")
    return Query(text, words(text), tuple(wanted or kinds), limit, customer_id)


def words(text: str) -> tuple[str, ...]:
    """The query's words: runs of letters and digits, lower-cased, without repeats, at most WORDS_MAX."""
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word not in out:
            out.append(word)
    return tuple(out[:WORDS_MAX])


def term_query(query_words: Sequence[str], dialect: str) -> str:
    """The words as one prefix query, all required: `to_tsquery` syntax on PostgreSQL, FTS5's on SQLite. Bound as a
    parameter; the words hold letters and digits only, so no operator can be smuggled in."""
    if dialect == "postgresql":
        return " & ".join(f"{w}:*" for w in query_words)
    return " ".join(f'"{w}"*' for w in query_words)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- indexes -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextIndex:
    """A full-text index over `columns` of `table`; a match yields the row's `key` column (its record's id: for
    lines, their parent's)."""

    table: str
    columns: tuple[str, ...]
    key: str = "id"

    def __post_init__(self) -> None:
        # They are written into DDL and queries: the service's own names, never anything a client sent.
        for name in (self.table, self.key, *self.columns):
            if not _IDENTIFIER.fullmatch(name):
                raise ValueError(f"not a plain SQL identifier: {name!r}")

    @property
    def name(self) -> str:
        """The FTS5 table's name on SQLite; the GIN index is `ix_<name>` on PostgreSQL."""
        return f"{self.table}_fts"

    def pg_vector(self, qualifier: str = "") -> str:
        """The tsvector expression the GIN index is built on; a query must use the same one to use the index."""
        prefix = f"{qualifier}." if qualifier else ""
        joined = " || ' ' || ".join(f"coalesce({prefix}{c}, '')" for c in self.columns)
        spaces = " " * len(SEPARATORS)
        return f"to_tsvector('simple'::regconfig, translate({joined}, '{_sql_quote(SEPARATORS)}', '{spaces}'))"

    def matches(self, dialect: str, param: str = "terms") -> sa.Select:
        """`SELECT key AS record_id, score` of the rows matching the bound term query `param`; score in [0, 1),
        higher is better."""
        terms = sa.bindparam(param)
        if dialect == "postgresql":
            vector = sa.literal_column(self.pg_vector(self.table))
            query = sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), terms)
            return (
                sa.select(
                    sa.literal_column(f"{self.table}.{self.key}").label("record_id"),
                    sa.cast(sa.func.ts_rank(vector, query), sa.Float).label("score"),
                )
                .select_from(sa.table(self.table))
                .where(vector.op("@@")(query))
            )
        fts = sa.table(self.name, sa.column("rowid"))
        rows = sa.table(self.table, sa.column("rowid"), sa.column(self.key))
        # bm25() is negative, more negative is better; s / (1 + s) maps -bm25 into [0, 1).
        best = -sa.func.bm25(sa.literal_column(self.name))
        return (
            sa.select(rows.c[self.key].label("record_id"), sa.cast(best / (1 + best), sa.Float).label("score"))
            .select_from(fts.join(rows, rows.c.rowid == fts.c.rowid))
            .where(sa.literal_column(self.name).op("MATCH")(terms))
        )


def _sql_quote(text: str) -> str:
    return text.replace("'", "''")


def _ddl(index: TextIndex, dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [f"CREATE INDEX IF NOT EXISTS ix_{index.name} ON {index.table} USING gin (({index.pg_vector()}))"]
    cols = ", ".join(index.columns)
    new = ", ".join(f"new.{c}" for c in index.columns)
    old = ", ".join(f"old.{c}" for c in index.columns)
    fts = index.name
    # Identifiers only (checked by TextIndex), no value: nothing here comes from a request.
    delete = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.rowid, {old});"  # noqa: S608
    insert = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.rowid, {new});"  # noqa: S608
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({cols}, content='{index.table}', content_rowid='rowid', "
        "tokenize='unicode61 remove_diacritics 0')",
        f"DROP TRIGGER IF EXISTS {fts}_ai",
        f"DROP TRIGGER IF EXISTS {fts}_ad",
        f"DROP TRIGGER IF EXISTS {fts}_au",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {index.table} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {index.table} BEGIN {delete} END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {cols} ON {index.table} BEGIN {delete} {insert} END",
        # Indexes the rows already there (and, after a batch rebuild of the table, its new rowids).
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",  # noqa: S608
    ]


def create_text_index(op, index: TextIndex) -> None:  # noqa: ANN001 - alembic.op
    """Create (or re-create) the index in a migration, indexing the rows already there."""
    for statement in _ddl(index, op.get_bind().dialect.name):
        op.execute(sa.text(statement))


def drop_text_index(op, index: TextIndex) -> None:  # noqa: ANN001 - alembic.op
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(f"DROP INDEX IF EXISTS ix_{index.name}"))
        return
    for suffix in ("ai", "ad", "au"):
        op.execute(sa.text(f"DROP TRIGGER IF EXISTS {index.name}_{suffix}"))
    op.execute(sa.text(f"DROP TABLE IF EXISTS {index.name}"))


def is_index_object(name: str | None) -> bool:
    """A table or index that belongs to a TextIndex (for schema comparisons against the models)."""
    return bool(name) and "_fts" in name


def best_matches(sources: Iterable[sa.Select]) -> sa.Subquery:
    """`(record_id, rank)`: each record's best score over the sources (text matches, number matches)."""
    union = sa.union_all(*sources).subquery("matches")
    return (
        sa.select(union.c.record_id, sa.func.max(union.c.score).label("rank"))
        .group_by(union.c.record_id)
        .subquery("ranked")
    )


def identifier_matches(column: sa.ColumnElement, key: sa.ColumnElement) -> sa.Select:
    """`(record_id, score)` of the records whose number or serial `column` is the query (3) or starts with it (2):
    above every text match. `key` is the record's id; add a `select_from` when it comes through a join. Needs the
    bound parameters `exact` and `prefix` (see `parameters`)."""
    lowered = sa.func.lower(column)
    exact = sa.bindparam("exact")
    score = sa.case((lowered == exact, sa.literal_column("3.0")), else_=sa.literal_column("2.0"))
    return sa.select(key.label("record_id"), sa.cast(score, sa.Float).label("score")).where(
        sa.or_(lowered == exact, lowered.like(sa.bindparam("prefix"), escape="\\"))
    )


def parameters(query: Query, dialect: str) -> dict[str, object]:
    """The bound parameters of `TextIndex.matches` and `identifier_matches`."""
    return {"terms": term_query(query.words, dialect), "exact": query.exact, "prefix": query.prefix_pattern}


def scoped(stmt: sa.Select, table: sa.Table, scope: Visibility, query: Query) -> sa.Select:
    """`stmt` narrowed to the records of `table` the scope lets the caller see (its `customer_id` and `contact_id`
    columns) and to the staff's customer when the query names one."""
    if scope.customer_ids is not None:
        stmt = stmt.where(table.c.customer_id.in_(scope.customer_ids))
    if scope.contact_id is not None:
        stmt = stmt.where(table.c.contact_id == scope.contact_id)
    if query.customer_id:
        stmt = stmt.where(table.c.customer_id == query.customer_id)
    return stmt


# --- running a search ----------------------------------------------------------------------------------------------

# A kind's finder: its hits (at most `query.limit + 1`, best first) given the connection, the principal, the query,
# the bound `parameters` and the dialect's name; PermissionDenied when the principal may not see the kind.
Finder = Callable[[AsyncConnection, Principal, Query, dict, str], Awaitable[list["Hit"]]]


async def run_finders(
    conn: AsyncConnection, *, principal: Principal, query: Query, finders: Mapping[str, Finder]
) -> Results:
    """The principal's best hits of each kind asked for, at most `query.limit` per kind. A kind the principal may
    not see gives no hits rather than an error: the gateway asks every service for every kind."""
    dialect = conn.dialect.name
    params = parameters(query, dialect)
    results = Results()
    for kind in query.kinds:
        try:
            hits = await finders[kind](conn, principal, query, params, dialect)
        except PermissionDenied:
            continue
        results.add(kind, hits, query.limit)
    return results


async def answer(
    db: Database,
    msg: search_pb2.SearchQuery,
    *,
    kinds: Sequence[str],
    search: Callable[..., Awaitable[Results]],
) -> search_pb2.SearchResults:
    """A service's `Search` RPC: the caller's query checked against `kinds`, `search(conn, principal=, query=)` run
    on a read connection, and its results as the proto."""
    principal = current_principal()
    query = parse_query(msg, kinds=kinds, staff=principal.is_staff)
    async with db.read() as conn:
        results = await search(conn, principal=principal, query=query)
    return results.to_proto()


# --- answers -------------------------------------------------------------------------------------------------------


def snippet(texts: Iterable[str], query_words: Sequence[str], limit: int = SNIPPET_MAX) -> str:
    """Plain text around the first word of the query found in `texts` (the first text's start when none is), on
    one line, at most `limit` characters, cut at word boundaries with "…" where text was left out."""
    parts = [" ".join(t.split()) for t in texts if t and t.strip()]
    if not parts:
        return ""
    for text in parts:
        lowered = text.lower()
        found = [m.start() for w in query_words if (m := re.search(rf"(?<![^\W_]){re.escape(w)}", lowered))]
        if found:
            return _cut(text, min(found), limit)
    return _cut(parts[0], 0, limit)


def _cut(text: str, at: int, limit: int) -> str:
    if len(text) <= limit:
        return text
    start = max(0, at - limit // 4)
    if start:
        space = text.rfind(" ", 0, start + 1)
        start = space + 1 if space > 0 and start - space < 20 else start
    body_limit = limit - (1 if start else 0)
    end = start + body_limit
    if end < len(text):
        end -= 1
        space = text.rfind(" ", start, end)
        end = space if space > start + body_limit // 2 else end
    out = text[start:end].strip()
    return ("…" if start else "") + out + ("…" if end < len(text) else "")


@dataclass
class Hit:
    kind: str
    id: str
    title: str
    snippet: str
    customer_id: str
    updated_at: datetime | None
    rank: float
    parent_id: str = ""


@dataclass
class Results:
    """The hits of one search, best first within each kind, and the kinds that had more."""

    hits: list[Hit] = field(default_factory=list)
    truncated_kinds: list[str] = field(default_factory=list)

    def add(self, kind: str, hits: list[Hit], limit: int) -> None:
        """A kind's hits, fetched with one more than `limit` to know whether there are more."""
        self.hits.extend(hits[:limit])
        if len(hits) > limit:
            self.truncated_kinds.append(kind)

    def to_proto(self) -> search_pb2.SearchResults:
        out = search_pb2.SearchResults(truncated_kinds=self.truncated_kinds)
        for h in self.hits:
            hit = out.hits.add(
                kind=h.kind,
                id=h.id,
                parent_id=h.parent_id,
                title=h.title,
                snippet=h.snippet,
                customer_id=h.customer_id,
                rank=h.rank,
            )
            if h.updated_at is not None:
                hit.updated_at.CopyFrom(timestamp(h.updated_at))
        return out
