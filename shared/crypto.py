"""Encryption of stored secrets (tenant database passwords) with Fernet (AES-128-CBC + HMAC).

The key comes from ILUO_SYNC_SECRET_KEY; for a SQLite control database without it, a key file is
created next to the database with mode 0600 (a local install works out of the box). Any other
control database requires the variable, so a hosted deployment never keeps its key by accident.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import make_url

from shared.errors import UserError


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise UserError(
                "ILUO_SYNC_SECRET_KEY is not a valid key (32 url-safe base64 bytes; "
                "make one with: python -c 'from cryptography.fernet import Fernet;"
                " print(Fernet.generate_key().decode())')"
            ) from None

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise UserError(
                "a stored password cannot be decrypted: ILUO_SYNC_SECRET_KEY is not the key "
                "it was stored with"
            ) from None


def key_file_for(control_db_url: str) -> Path | None:
    """The key file beside a file-based SQLite control DB, else None."""
    url = make_url(control_db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    db_path = Path(url.database).expanduser().resolve()
    return db_path.with_name(db_path.name + ".key")


def load_secret_box(control_db_url: str, secret_key: str | None) -> SecretBox:
    return SecretBox(load_key(control_db_url, secret_key))


def derived_key(key: bytes, purpose: str) -> bytes:
    """A key for another purpose (signing the console's sessions), derived from the secret key
    so a deployment keeps one secret; knowing it reveals nothing of the key itself."""
    return hmac.new(key, f"iluo-sync {purpose}".encode(), hashlib.sha256).digest()


def load_key(control_db_url: str, secret_key: str | None) -> bytes:
    """ILUO_SYNC_SECRET_KEY, or the key file beside a SQLite control DB (made on first use)."""
    if secret_key:
        return secret_key.encode()
    path = key_file_for(control_db_url)
    if path is None:
        raise UserError(
            "ILUO_SYNC_SECRET_KEY must be set when the control database is not a SQLite file"
        )
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not write two different keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
    return path.read_bytes().strip()
