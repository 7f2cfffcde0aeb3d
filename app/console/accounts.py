"""The console's accounts in the control DB, and their passwords (scrypt, memory-hard).

scrypt (hashlib, OpenSSL's) with N=2**15, r=8: 32 MiB and about a tenth of a second per
guess, on a 16-byte random salt. A hash is stored as `scrypt$N$r$p$salt$key` (base64), so
the cost can be raised later while old hashes still verify. An operator (`tenant_id` None)
sees every tenant; a tenant user only theirs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.control.tables import console_users
from shared.errors import UserError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
#: OpenSSL refuses more than 32 MiB by default; N=2**15, r=8 needs exactly that, plus a little.
_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    tenant_id: int | None
    password_changed_at: datetime

    @property
    def operator(self) -> bool:
        return self.tenant_id is None

    def sees(self, tenant_id: int) -> bool:
        return self.tenant_id is None or self.tenant_id == tenant_id


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        found = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(found, base64.b64decode(key))
    except (ValueError, TypeError):
        return False


#: Spent on a login for a name that does not exist, so the answer takes as long as a wrong
#: password (no telling which names exist by timing).
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")


def add_user(
    conn: Connection, name: str, password: str, *, tenant_id: int | None, now: datetime
) -> User:
    if not _NAME.match(name):
        raise UserError(f"invalid user name {name!r}: letters, digits, '.', '_', '@' or '-'")
    check_password_rules(password)
    try:
        with conn.begin_nested():
            conn.execute(insert(console_users).values(
                name=name, password_hash=hash_password(password), tenant_id=tenant_id,
                created_at=now, password_changed_at=now,
            ))
    except IntegrityError:
        raise UserError(f"a console user named {name!r} already exists") from None
    user = find_user(conn, name)
    assert user is not None
    return user


def set_password(conn: Connection, name: str, password: str, *, now: datetime) -> None:
    """A new password; every session signed before it ends."""
    check_password_rules(password)
    done = conn.execute(update(console_users).where(console_users.c.name == name).values(
        password_hash=hash_password(password), password_changed_at=now)).rowcount
    if not done:
        raise UserError(f"no console user named {name!r}")


def remove_user(conn: Connection, name: str) -> None:
    if not conn.execute(delete(console_users).where(console_users.c.name == name)).rowcount:
        raise UserError(f"no console user named {name!r}")


def _user(row: object) -> User:
    return User(id=row.id, name=row.name, tenant_id=row.tenant_id,  # type: ignore[attr-defined]
                password_changed_at=row.password_changed_at)  # type: ignore[attr-defined]


def find_user(conn: Connection, name: str) -> User | None:
    row = conn.execute(select(console_users).where(console_users.c.name == name)).first()
    return _user(row) if row else None


def get_user(conn: Connection, user_id: int) -> User | None:
    row = conn.execute(select(console_users).where(console_users.c.id == user_id)).first()
    return _user(row) if row else None


def list_users(conn: Connection) -> list[User]:
    rows = conn.execute(select(console_users).order_by(console_users.c.name))
    return [_user(row) for row in rows]


def authenticate(conn: Connection, name: str, password: str, *, now: datetime) -> User | None:
    """The user when the password is right, else None (the same work either way)."""
    row = conn.execute(select(console_users).where(console_users.c.name == name)).first()
    if row is None:
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, row.password_hash):
        return None
    conn.execute(update(console_users).where(console_users.c.id == row.id)
                 .values(last_login_at=now))
    return _user(row)
