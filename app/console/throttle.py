"""Login throttling: failed logins counted per client address and per account name.

MAX_FAILURES failures of one key within WINDOW lock that key until the window ends (answered
429, the password not even checked). The counts live in the control DB, so every console
replica sees the same ones and a restart forgets nothing. A success clears the name's count
(not the address's: one right password must not reset a guesser's budget).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.control.tables import console_login_failures as failures

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


def keys(address: str, name: str) -> list[str]:
    return [f"ip:{address}"[:150], f"user:{name.lower()}"[:150]]


def locked(conn: Connection, keys: list[str], now: datetime) -> bool:
    rows = conn.execute(select(failures).where(failures.c.key.in_(keys))).all()
    return any(row.failures >= MAX_FAILURES and row.window_started_at > now - WINDOW
               for row in rows)


def record_failure(conn: Connection, keys: list[str], now: datetime) -> None:
    for key in keys:
        row = conn.execute(select(failures).where(failures.c.key == key)).first()
        if row is not None and row.window_started_at > now - WINDOW:
            conn.execute(update(failures).where(failures.c.key == key)
                         .values(failures=failures.c.failures + 1))
            continue
        if row is not None:  # an old window: start a new one
            conn.execute(update(failures).where(failures.c.key == key)
                         .values(failures=1, window_started_at=now))
            continue
        try:
            with conn.begin_nested():
                conn.execute(insert(failures).values(key=key, failures=1, window_started_at=now))
        except IntegrityError:  # a parallel failure inserted it first
            conn.execute(update(failures).where(failures.c.key == key)
                         .values(failures=failures.c.failures + 1))


def clear(conn: Connection, key: str) -> None:
    conn.execute(delete(failures).where(failures.c.key == key))
