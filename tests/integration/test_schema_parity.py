"""The two hand-written migration sets (store/migrations/sqlite, store/migrations/postgresql) end in the same schema:
a new SQLite database and a new PostgreSQL database are migrated to the latest version and compared table by table
(tables; columns; types in a small vocabulary; nullability; defaults; primary keys; foreign keys; indexes with
their columns, uniqueness and predicate). CHECK constraints and data migrations are not compared.

Where the engines differ on purpose, the rule is written here: a SQLite TEXT column is a moment that PostgreSQL
keeps as ``timestamptz`` when its name says so (``at``, ``*_at``, ``*_until``: store/db.py's utc_iso text on one,
store/postgres_engine.py's codec on the other), and a column named so must not be plain text in PostgreSQL;
``INTEGER`` and ``bigint`` are both integers, ``REAL`` and ``double precision`` both reals; a primary key column is
NOT NULL on both (PostgreSQL's rule; SQLite's legacy NULL in a non-integer key is never written); an identity
column in PostgreSQL is SQLite's rowid alias. Anything else must be listed in ``KNOWN`` with its reason, and a
listed difference that is gone fails too, so that the list stays true.

One schema source? SQLAlchemy Core metadata with Alembic would generate both engines' DDL from one model, but it
adds more than it removes here: the store is raw SQL through its own engines (the SQLite engine's plan checks,
asyncpg's codecs), and SQLAlchemy Core on the query path costs 90 / 60–80 µs per statement against asyncpg's
17–19 µs (facts.md); kept to DDL only, it is two more dependencies, a model beside the SQL the repositories write,
SQLite's table-rebuild migrations, and data migrations (009) still written per engine. Two small hand-written sets
checked by this test keep the drift out for the price of one test module: that is the choice.

PostgreSQL-only (the suite's PostgreSQL run, ``QYZMET_TEST_POSTGRES``, as in CI); skipped, and said so, without it.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from store.db import migrations
from store.opening import open_database
from tests import engines

# Differences kept on purpose: (table, column, aspect) -> why. Aspects: "only in postgresql", "only in sqlite",
# "type", "nullability", "default".
KNOWN: dict[tuple[str, str, str], str] = {
    ("sms_outbox", "seq", "only in postgresql"):
        "insertion order: PostgreSQL has no rowid, SQLite breaks ties on created_at by rowid (001)",
    ("schema_migrations", "applied_at", "default"):
        "the engines' own bookkeeping table (not a migration): PostgreSQL fills applied_at by default, "
        "the SQLite engine writes datetime('now') itself",
}

_MOMENT_NAME = re.compile(r"^(at|.*_at|.*_until)$")


@dataclass(frozen=True)
class Column:
    type: str  # text, integer, real, numeric, boolean, blob, moment, or the engine's own name when none of these
    notnull: bool
    default: str | None  # normalised: no casts, quotes or enclosing parentheses
    auto: bool  # PostgreSQL: an identity (or serial) column; SQLite: the rowid alias


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    to: tuple[str, ...]
    on_update: str
    on_delete: str

    def __str__(self) -> str:
        return (f"({', '.join(self.columns)}) -> {self.table} ({', '.join(self.to)})"
                f" on update {self.on_update} on delete {self.on_delete}")


@dataclass(frozen=True)
class Index:
    columns: tuple[str, ...]  # a descending column ends in " desc"; an expression is its text
    unique: bool
    where: str | None  # a partial index's predicate, normalised

    def __str__(self) -> str:
        return (f"{'unique ' if self.unique else ''}({', '.join(self.columns)})"
                + (f" where {self.where}" if self.where else ""))


@dataclass
class Table:
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    foreign_keys: set[ForeignKey] = field(default_factory=set)
    indexes: dict[str, Index] = field(default_factory=dict)  # the named ones (CREATE INDEX)
    unique: set[tuple[str, ...]] = field(default_factory=set)  # UNIQUE constraints, whose names the engines choose


Schema = dict[str, Table]


def normal_default(text: str | None) -> str | None:
    """``'queued'::text``, ``('{}')``, ``(-1)`` and ``'queued'`` are the same default."""
    if text is None:
        return None
    text = text.strip()
    while True:
        before = text
        text = re.sub(r"::[a-z_ ]+(\[\])?$", "", text).strip()
        if text.startswith("(") and text.endswith(")"):
            text = text[1:-1].strip()
        if text.startswith("'") and text.endswith("'") and len(text) >= 2:
            text = text[1:-1].replace("''", "'")
        if text == before:
            return text


def normal_predicate(text: str | None) -> str | None:
    """PostgreSQL prints ``(blocked_at IS NULL)`` for the ``blocked_at IS NULL`` SQLite keeps as written, and
    ``status = ANY (ARRAY['queued'::text, 'sending'::text])`` for ``status IN ('queued', 'sending')``."""
    if text is None:
        return None
    text = re.sub(r"=\s*ANY\s*\(\s*ARRAY\[(.*?)\]\s*\)", r"IN (\1)", text, flags=re.IGNORECASE)
    text = re.sub(r"::[a-z_ ]+", "", text)
    return " ".join(text.replace("(", " ").replace(")", " ").lower().split())


def sqlite_type(declared: str) -> str:
    """SQLite's affinity rules (https://sqlite.org/datatype3.html, 3.1), named in the shared vocabulary."""
    name = declared.upper()
    if "INT" in name:
        return "integer"
    if any(word in name for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if not name or "BLOB" in name:
        return "blob"
    if any(word in name for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    if "BOOL" in name:
        return "boolean"
    return declared.lower()


_POSTGRES_TYPES = {
    "text": "text", "character varying": "text", "character": "text",
    "integer": "integer", "bigint": "integer", "smallint": "integer",
    "double precision": "real", "real": "real", "numeric": "numeric",
    "boolean": "boolean", "bytea": "blob", "timestamp with time zone": "moment",
}


def read_sqlite(path: Path) -> Schema:
    """The schema of a SQLite file, from sqlite_master and the pragma table functions (the indexes that back a
    primary key are left out: PostgreSQL names its own differently, and the key itself is compared)."""
    conn = sqlite3.connect(path)
    try:
        schema: Schema = {}
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"
                            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").fetchall()
        for name, sql in rows:
            table = schema[name] = Table()
            info = conn.execute('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)',
                                (name,)).fetchall()
            key = [column for column, *_, pk in sorted(info, key=lambda row: row[4]) if pk]
            table.primary_key = tuple(key)
            rowid = re.search(r"\bWITHOUT\s+ROWID\b", sql, re.IGNORECASE) is None
            for column, declared, notnull, default, pk in info:
                alias = rowid and len(key) == 1 and pk == 1 and declared.upper() == "INTEGER"
                table.columns[column] = Column(sqlite_type(declared), bool(notnull) or bool(pk),
                                               normal_default(default), alias)
            fks: dict[int, list[Any]] = {}
            for fk_id, _seq, ref, source, target, on_update, on_delete in conn.execute(
                    'SELECT id, seq, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?)'
                    " ORDER BY id, seq", (name,)):
                fks.setdefault(fk_id, [ref, [], [], on_update, on_delete])
                fks[fk_id][1].append(source)
                fks[fk_id][2].append(target)
            for ref, sources, targets, on_update, on_delete in fks.values():
                if None in targets:  # REFERENCES t: the referenced table's primary key
                    targets = [column for column, *_, pk in sorted(conn.execute(
                        "SELECT name, pk FROM pragma_table_info(?)", (ref,)).fetchall(), key=lambda r: r[1]) if pk]
                table.foreign_keys.add(ForeignKey(tuple(sources), ref, tuple(targets), on_update, on_delete))
            for index, unique, origin in conn.execute(
                    'SELECT name, "unique", origin FROM pragma_index_list(?)', (name,)).fetchall():
                if origin == "pk":
                    continue
                columns = tuple(
                    (column if column is not None else "<expression>") + (" desc" if desc else "")
                    for column, desc in conn.execute(
                        "SELECT name, desc FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno", (index,)))
                if origin == "u":
                    table.unique.add(columns)
                    continue
                (index_sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                                            (index,)).fetchone()
                where = re.search(r"\bWHERE\b(.*)$", index_sql, re.IGNORECASE | re.DOTALL)
                table.indexes[index] = Index(columns, bool(unique), normal_predicate(where and where.group(1)))
        return schema
    finally:
        conn.close()


_PG_COLUMNS = """
SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'NO', c.column_default,
       c.is_identity = 'YES' OR coalesce(c.column_default, '') LIKE 'nextval(%'
FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
"""

_PG_CONSTRAINTS = """
SELECT t.relname, con.contype::text,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i)::text[],
       r.relname,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i)::text[],
       con.confupdtype::text, con.confdeltype::text
FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid LEFT JOIN pg_class r ON r.oid = con.confrelid
WHERE con.connamespace = current_schema()::regnamespace AND con.contype IN ('p', 'f', 'u')
"""

_PG_INDEXES = """
SELECT t.relname, i.relname, ix.indisunique, pg_get_expr(ix.indpred, ix.indrelid),
       ARRAY(SELECT CASE WHEN k.n = 0 THEN pg_get_indexdef(ix.indexrelid, k.i::int, true) ELSE a.attname::text END
                    || CASE WHEN pg_index_column_has_property(ix.indexrelid, k.i::int, 'desc') THEN ' desc' ELSE ''
                       END
             FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(n, i)
             LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.n
             WHERE k.i <= ix.indnkeyatts ORDER BY k.i)::text[]
FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
WHERE t.relnamespace = current_schema()::regnamespace
  AND NOT EXISTS (SELECT FROM pg_constraint con WHERE con.conindid = ix.indexrelid AND con.contype IN ('p', 'u'))
"""

_PG_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


async def read_postgres(url: str) -> Schema:
    """The schema of a PostgreSQL database's current schema, from information_schema and pg_catalog (indexes that
    back a primary key or UNIQUE constraint are compared as those constraints, as on SQLite)."""
    import asyncpg
    conn = await asyncpg.connect(url)
    try:
        schema: Schema = {}
        for table, column, data_type, notnull, default, auto in await conn.fetch(_PG_COLUMNS):
            schema.setdefault(table, Table()).columns[column] = Column(
                _POSTGRES_TYPES.get(data_type, data_type), notnull, None if auto else normal_default(default), auto)
        for table, kind, columns, ref, to, on_update, on_delete in await conn.fetch(_PG_CONSTRAINTS):
            if kind == "p":
                schema[table].primary_key = tuple(columns)
            elif kind == "u":
                schema[table].unique.add(tuple(columns))
            else:
                schema[table].foreign_keys.add(ForeignKey(tuple(columns), ref, tuple(to), _PG_ACTIONS[on_update],
                                                          _PG_ACTIONS[on_delete]))
        for table, index, unique, where, columns in await conn.fetch(_PG_INDEXES):
            schema[table].indexes[index] = Index(tuple(columns), unique, normal_predicate(where))
        return schema
    finally:
        await conn.close()


def _describe(column: Column) -> str:
    return (f"{column.type} {'not null' if column.notnull else 'null'}"
            + (f" default {column.default}" if column.default is not None else "")
            + (" auto" if column.auto else ""))


def differences(sqlite: Schema, postgres: Schema) -> list[str]:
    """What differs, one readable line each (table and column named), after the rules of the module's docstring and
    the ``KNOWN`` differences; a ``KNOWN`` difference that no longer occurs is reported too."""
    found: list[str] = []
    used: set[tuple[str, str, str]] = set()

    def differ(table: str, column: str, aspect: str, text: str) -> None:
        if (table, column, aspect) in KNOWN:
            used.add((table, column, aspect))
        else:
            found.append(f"{table}.{column}: {text}")

    for name in sorted(sqlite.keys() - postgres.keys()):
        found.append(f"table {name}: only in sqlite")
    for name in sorted(postgres.keys() - sqlite.keys()):
        found.append(f"table {name}: only in postgresql")
    for name in sorted(sqlite.keys() & postgres.keys()):
        lite, pg = sqlite[name], postgres[name]
        for column in sorted(lite.columns.keys() - pg.columns.keys()):
            differ(name, column, "only in sqlite", f"only in sqlite ({_describe(lite.columns[column])})")
        for column in sorted(pg.columns.keys() - lite.columns.keys()):
            differ(name, column, "only in postgresql", f"only in postgresql ({_describe(pg.columns[column])})")
        for column in sorted(lite.columns.keys() & pg.columns.keys()):
            a, b = lite.columns[column], pg.columns[column]
            moment_name = _MOMENT_NAME.match(column) is not None
            if a.type != b.type and not (a.type == "text" and b.type == "moment" and moment_name):
                differ(name, column, "type", f"type sqlite {a.type} ≠ postgresql {b.type}"
                       + (" (a text moment must be named at, *_at or *_until)" if b.type == "moment" else ""))
            elif moment_name and b.type == "text":
                differ(name, column, "type", "named as a moment but postgresql keeps it as text, not timestamptz")
            if a.notnull != b.notnull:
                differ(name, column, "nullability", f"sqlite {'not null' if a.notnull else 'null'}"
                       f" ≠ postgresql {'not null' if b.notnull else 'null'}")
            if a.default != b.default:
                differ(name, column, "default", f"default sqlite {a.default!r} ≠ postgresql {b.default!r}")
            if b.auto and not a.auto:
                differ(name, column, "default", "an identity in postgresql, not the rowid alias in sqlite")
        if lite.primary_key != pg.primary_key:
            found.append(f"{name}: primary key sqlite {lite.primary_key} ≠ postgresql {pg.primary_key}")
        for fk in sorted(map(str, lite.foreign_keys - pg.foreign_keys)):
            found.append(f"{name}: foreign key only in sqlite: {fk}")
        for fk in sorted(map(str, pg.foreign_keys - lite.foreign_keys)):
            found.append(f"{name}: foreign key only in postgresql: {fk}")
        for columns in sorted(lite.unique ^ pg.unique):
            side = "sqlite" if columns in lite.unique else "postgresql"
            found.append(f"{name}: unique constraint ({', '.join(columns)}) only in {side}")
        for index in sorted(lite.indexes.keys() - pg.indexes.keys()):
            found.append(f"{name}: index {index} only in sqlite: {lite.indexes[index]}")
        for index in sorted(pg.indexes.keys() - lite.indexes.keys()):
            found.append(f"{name}: index {index} only in postgresql: {pg.indexes[index]}")
        for index in sorted(lite.indexes.keys() & pg.indexes.keys()):
            if lite.indexes[index] != pg.indexes[index]:
                found.append(f"{name}: index {index} sqlite {lite.indexes[index]} ≠ postgresql {pg.indexes[index]}")
    for table, column, aspect in sorted(KNOWN.keys() - used):
        found.append(f"{table}.{column}: the known difference ({aspect}) is gone: take it out of KNOWN")
    return found


async def migrated_sqlite(path: Path) -> Schema:
    """A new SQLite file migrated by the store itself (store/db.py), as a deployment's would be."""
    db = await open_database(str(path))
    await db.close()
    return read_sqlite(path)


@pytest.mark.skipif(not engines.on_postgres(), reason="needs the suite's PostgreSQL server (QYZMET_TEST_POSTGRES)")
async def test_both_engines_migrate_to_the_same_schema(tmp_path, empty_database):
    latest = max(version for version, _ in migrations("sqlite"))
    sqlite = await migrated_sqlite(tmp_path / "parity.sqlite3")
    url = empty_database("parity")
    db = await open_database(url)
    await db.close()
    postgres = await read_postgres(url)
    found = differences(sqlite, postgres)
    assert not found, (f"SQLite and PostgreSQL schemas differ after migration {latest:03d}:\n  "
                       + "\n  ".join(found))


async def test_the_comparison_names_what_differs(tmp_path):
    """The comparison's own teeth, on SQLite alone: a column added, a type, a nullability, a default and an index
    changed in one copy are each reported by table and column."""
    before = await migrated_sqlite(tmp_path / "a.sqlite3")
    changed = tmp_path / "b.sqlite3"
    await migrated_sqlite(changed)
    conn = sqlite3.connect(changed)
    conn.executescript("""
        ALTER TABLE users ADD COLUMN nickname TEXT;
        DROP INDEX certificate_checks_share;
        CREATE INDEX certificate_checks_share ON certificate_checks (share_id);
        DROP TABLE sms_inbound;
        CREATE TABLE sms_inbound (id TEXT PRIMARY KEY, received_at INTEGER, extra REAL DEFAULT 1.5);
    """)
    conn.close()
    after = read_sqlite(changed)
    for table in after.values():  # the other side as PostgreSQL keeps it
        for name, column in table.columns.items():
            if column.type == "text" and _MOMENT_NAME.match(name):
                table.columns[name] = Column("moment", column.notnull, column.default, column.auto)
    after["sms_outbox"].columns["seq"] = Column("integer", True, None, True)  # KNOWN entries stay in use
    after["schema_migrations"].columns["applied_at"] = Column("moment", True, "now()", False)
    assert differences(before, after) == [
        "certificate_checks: index certificate_checks_share sqlite (share_id, at) ≠ postgresql (share_id)",
        "sms_inbound.extra: only in postgresql (real null default 1.5)",
        "sms_inbound.received_at: type sqlite text ≠ postgresql integer",
        "sms_inbound.received_at: sqlite not null ≠ postgresql null",
        "users.nickname: only in postgresql (text null)",
    ]
