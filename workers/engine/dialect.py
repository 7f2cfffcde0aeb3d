"""The small dialect switch: insert-or-skip and upsert, the only statements that differ.

PostgreSQL and SQLite have `INSERT … ON CONFLICT`, MariaDB/MySQL `ON DUPLICATE KEY UPDATE`;
everything else (SQL Server) gets the portable form: the statement inside a savepoint, where a
unique violation rolls back only that savepoint. Either way the database's unique key decides —
nothing here reads before it writes to find out whether a row exists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, insert, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import IntegrityError

_ON_CONFLICT: dict[str, Callable[[Table], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert, "sqlite": sqlite.insert,
}


def _backend(conn: Connection) -> str:
    return conn.dialect.name


def insert_or_skip(
    conn: Connection, table: Table, row: Mapping[str, Any], conflict: Sequence[str] | None
) -> bool:
    """Insert `row` unless a row with the same `conflict` key exists; True when inserted.

    `conflict=None` means any unique key (a table with several, like the bindings). On the
    savepoint path any unique violation counts as "exists".
    """
    dialect_insert = _ON_CONFLICT.get(_backend(conn))
    if dialect_insert is not None:
        stmt = dialect_insert(table).values(**row).on_conflict_do_nothing(
            index_elements=list(conflict) if conflict else None
        )
        # SQLAlchemy reads an INSERT's rowcount only when asked to (psycopg answers -1 else).
        result = conn.execute(stmt.execution_options(preserve_rowcount=True))
        return result.rowcount == 1
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values(**row))
        return True
    except IntegrityError:
        return False


def insert_many_or_skip(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str] | None,
) -> None:
    """`insert_or_skip` for many rows: one multi-row statement where the dialect allows it."""
    if not rows:
        return
    dialect_insert = _ON_CONFLICT.get(_backend(conn))
    if dialect_insert is not None:
        stmt = dialect_insert(table).on_conflict_do_nothing(
            index_elements=list(conflict) if conflict else None
        )
        conn.execute(stmt, list(rows))
        return
    for row in rows:
        insert_or_skip(conn, table, row, conflict)


def insert_returning_id_or_skip(
    conn: Connection, table: Table, row: Mapping[str, Any], conflict: Sequence[str]
) -> int | None:
    """Insert and answer the new primary key, or None when the `conflict` key already exists."""
    dialect_insert = _ON_CONFLICT.get(_backend(conn))
    if dialect_insert is not None:
        stmt = (
            dialect_insert(table)
            .values(**row)
            .on_conflict_do_nothing(index_elements=conflict)
            .returning(*table.primary_key.columns)
        )
        return conn.execute(stmt).scalar()
    try:
        with conn.begin_nested():
            result = conn.execute(insert(table).values(**row))
        key = result.inserted_primary_key
        assert key is not None  # a one-row INSERT has one
        return int(key[0])
    except IntegrityError:
        # Only a clash on `conflict` means "already there"; anything else is a real error.
        if _exists(conn, table, {k: row[k] for k in conflict}):
            return None
        raise


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
) -> None:
    """Insert each row, or overwrite the non-key columns of the row with the same `keys`."""
    if not rows:
        return
    values = [c for c in rows[0] if c not in keys]
    backend = _backend(conn)
    if backend in _ON_CONFLICT:
        stmt = _ON_CONFLICT[backend](table)
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: stmt.excluded[c] for c in values}
        )
        conn.execute(stmt, list(rows))
    elif backend in ("mysql", "mariadb"):
        mysql_stmt = mysql.insert(table)
        mysql_stmt = mysql_stmt.on_duplicate_key_update(
            {c: mysql_stmt.inserted[c] for c in values})
        conn.execute(mysql_stmt, list(rows))
    else:
        for row in rows:
            _update_or_insert(conn, table, row, keys, values)


def _update_or_insert(
    conn: Connection, table: Table, row: Mapping[str, Any], keys: Sequence[str],
    values: Sequence[str],
) -> None:
    where = and_(*(table.c[k] == row[k] for k in keys))
    change = update(table).where(where).values({c: row[c] for c in values})
    if conn.execute(change).rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values(**row))
    except IntegrityError:  # inserted meanwhile by someone else: ours is the newer value
        conn.execute(change)


def _exists(conn: Connection, table: Table, key: Mapping[str, Any]) -> bool:
    stmt = select(*table.primary_key.columns).where(
        and_(*(table.c[k] == v for k, v in key.items()))
    )
    return conn.execute(stmt.limit(1)).first() is not None
