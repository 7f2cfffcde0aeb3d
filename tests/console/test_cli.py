"""`iluo-sync console user …` and `iluo-sync console` on the command line: accounts made,
listed, re-passworded and removed, bad input refused with exit 2, and no console without an
account."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import _load_commands, app
from app.console.accounts import verify_password
from shared.control.registry import Registry
from shared.control.tables import console_users
from shared.settings import Settings

_load_commands()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    monkeypatch.setenv("ILUO_SYNC_CONTROL_DB", f"sqlite:///{tmp_path / 'control.db'}")
    monkeypatch.delenv("ILUO_SYNC_SECRET_KEY", raising=False)
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> object:
        return runner.invoke(app, list(args), input=stdin, catch_exceptions=False)

    return invoke


def _stored_hash(name: str) -> str:
    registry = Registry(Settings())
    try:
        with registry.engine.connect() as conn:
            return str(conn.execute(select(console_users.c.password_hash)
                                    .where(console_users.c.name == name)).scalar())
    finally:
        registry.close()


def test_accounts_on_the_command_line(cli: Callable[..., object],
                                      make_database: Callable[[str], str]) -> None:
    url = make_database("sqlite")
    assert cli("erp", "create", url).exit_code == 0  # type: ignore[attr-defined]
    assert cli("tenant", "add", "shop1", "--db-url", url).exit_code == 0  # type: ignore[attr-defined]
    done = cli("console", "user", "add", "admin", "--password-stdin", stdin="long-enough-pw\n")
    assert done.exit_code == 0 and "operator" in done.stdout  # type: ignore[attr-defined]
    done = cli("console", "user", "add", "klient", "--tenant", "shop1", "--password-stdin",
               stdin="klient-password\n")
    assert done.exit_code == 0  # type: ignore[attr-defined]
    listed = orjson.loads(cli("console", "user", "list", "--json").stdout)  # type: ignore[attr-defined]
    assert listed == [{"name": "admin", "tenant": None}, {"name": "klient", "tenant": "shop1"}]
    stored = _stored_hash("admin")
    assert stored.startswith("scrypt$") and "long-enough-pw" not in stored
    assert verify_password("long-enough-pw", stored) and not verify_password("other", stored)

    assert cli("console", "user", "password", "admin", "--password-stdin",
               stdin="a-new-password\n").exit_code == 0  # type: ignore[attr-defined]
    assert verify_password("a-new-password", _stored_hash("admin"))
    assert cli("console", "user", "remove", "klient").exit_code == 0  # type: ignore[attr-defined]

    for args, stdin, needle in (
        (("console", "user", "add", "admin", "--password-stdin"), "another-password\n",
         "already exists"),
        (("console", "user", "add", "short", "--password-stdin"), "short\n", "10 characters"),
        (("console", "user", "add", "bad name", "--password-stdin"), "long-enough-pw\n",
         "invalid user name"),
        (("console", "user", "add", "x1", "--tenant", "nope", "--password-stdin"),
         "long-enough-pw\n", "no tenant named"),
        (("console", "user", "remove", "nobody"), None, "no console user"),
    ):
        result = cli(*args, stdin=stdin)
        assert result.exit_code == 2, (args, result.stdout)  # type: ignore[attr-defined]
        assert needle in result.stderr  # type: ignore[attr-defined]


def test_no_console_without_an_account(cli: Callable[..., object]) -> None:
    result = cli("console", "--port", "18080")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "console user add" in result.stderr  # type: ignore[attr-defined]
