"""Claiming rows atomically: "give me up to n due rows and mark them taken", once per row.

Two producers (or two ticks of one) may claim at the same moment; every row must go to exactly
one of them. Each dialect gets the strongest form it has:

- PostgreSQL: ``UPDATE … WHERE id IN (SELECT id … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING``;
  a rival's locked rows are skipped, a row changed since our snapshot is re-checked (READ
  COMMITTED) and no longer matches.
- SQLite: the same UPDATE … RETURNING (SQLite ≥ 3.35) inside ``BEGIN IMMEDIATE`` (our engines
  begin that way), which holds the only write lock, so claims simply queue.
- MariaDB (10.6+): no UPDATE … RETURNING and no LIMIT in an IN subquery, so one transaction:
  ``SELECT id … FOR UPDATE SKIP LOCKED LIMIT n``, UPDATE those ids, read them back (still ours).
- SQL Server: ``UPDATE TOP (n) … WITH (UPDLOCK, READPAST, ROWLOCK) … OUTPUT inserted.…`` — the
  hints by hand, since SQLAlchemy's MSSQL dialect drops ``with_for_update()``.

`values` are applied in the order given (`ordered_values`): MariaDB evaluates SET clauses left to
right, so a column that copies another's old value must come before the one that changes it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, Row, Table, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Update

Assignment = tuple[Any, Any]
T = TypeVar("T")

#: What each server says when it picked our transaction as a deadlock victim (or gave up
#: waiting for a lock): MySQL/MariaDB errno, PostgreSQL SQLSTATE, SQL Server error number.
_MYSQL_RETRY = (1213, 1205)
_PG_RETRY = ("40P01", "40001")


def _is_deadlock(exc: DBAPIError) -> bool:
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in _PG_RETRY:
        return True
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return bool(args) and (args[0] in _MYSQL_RETRY or "deadlock" in str(args[-1]).lower())


def in_claim_transaction(engine: Engine, work: Callable[[Connection], T], attempts: int = 4) -> T:
    """Run `work` in its own transaction, again when the server rolled it back as a deadlock
    victim. InnoDB may pick one of two concurrent claims (index locks taken in different
    orders); the rolled-back claim took nothing, so repeating it is safe."""
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if attempt == attempts or not _is_deadlock(exc):
                raise
            time.sleep(random.uniform(0.01, 0.05) * attempt)
    raise AssertionError("unreachable")

MSSQL_CLAIM_HINT = "WITH (UPDLOCK, READPAST, ROWLOCK)"


def claim_rows(
    conn: Connection,
    table: Table,
    where: ColumnElement[bool],
    values: Sequence[Assignment],
    returning: Sequence[Any],
    *,
    order_by: Any,
    limit: int,
) -> list[Row[Any]]:
    """Mark up to `limit` rows matching `where` with `values`; return `returning` of each.

    Run inside a transaction (`engine.begin()`); the claim is final when it commits.
    """
    if limit <= 0:
        return []
    pk = table.primary_key.columns.values()[0]
    dialect = conn.dialect.name
    if dialect in ("mysql", "mariadb"):
        return _claim_select_then_update(conn, table, pk, where, values, returning, order_by, limit)
    return list(conn.execute(claim_statement(dialect, table, where, values, returning,
                                             order_by=order_by, limit=limit)))


def claim_statement(
    dialect: str,
    table: Table,
    where: ColumnElement[bool],
    values: Sequence[Assignment],
    returning: Sequence[Any],
    *,
    order_by: Any,
    limit: int,
) -> Update:
    """The one-statement claim for PostgreSQL, SQLite and SQL Server (compilable anywhere)."""
    if dialect == "mssql":
        return (
            update(table)
            .prefix_with(f"TOP ({int(limit)})")
            .with_hint(MSSQL_CLAIM_HINT, dialect_name="mssql")
            .where(where)
            .ordered_values(*values)
            .returning(*returning)
        )
    pk = table.primary_key.columns.values()[0]
    pick = select(pk).where(where).order_by(order_by).limit(limit)
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    return (
        update(table)
        .where(pk.in_(pick.scalar_subquery()))
        .ordered_values(*values)
        .returning(*returning)
    )


def _claim_select_then_update(
    conn: Connection,
    table: Table,
    pk: Any,
    where: ColumnElement[bool],
    values: Sequence[Assignment],
    returning: Sequence[Any],
    order_by: Any,
    limit: int,
) -> list[Row[Any]]:
    ids = list(
        conn.execute(
            select(pk).where(where).order_by(order_by).limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not ids:
        return []
    conn.execute(update(table).where(pk.in_(ids)).ordered_values(*values))
    # The rows stay locked by this transaction, so what we read back is what we wrote.
    return list(conn.execute(select(*returning).where(pk.in_(ids)).order_by(order_by)))
