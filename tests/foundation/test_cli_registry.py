"""The tenant registry through the command line: round trip, secrets, and every bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from sqlalchemy import inspect, update
from typer.testing import CliRunner

from app.cli import _load_commands, app
from shared.control.registry import Registry
from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.schema import shop_integration_operations
from shared.settings import Settings

SECRET = "Sup3r-S3cret-pw"
_load_commands()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    control = tmp_path / "control.db"
    monkeypatch.setenv("ILUO_SYNC_CONTROL_DB", f"sqlite:///{control}")
    monkeypatch.delenv("ILUO_SYNC_SECRET_KEY", raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> object:
        return runner.invoke(app, list(args), catch_exceptions=False)

    invoke.control = control  # type: ignore[attr-defined]
    return invoke


def _demo_erp(url: str) -> None:
    engine = make_engine(url)
    create_erp_schema(engine)
    fill_demo(engine)
    engine.dispose()


def _assert_user_error(result: object, needle: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and needle in lines[0], result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.stderr  # type: ignore[attr-defined]


def test_round_trip(cli: Callable[..., object], make_database: Callable[[str], str]) -> None:
    url = make_database("sqlite")
    assert cli("erp", "create", url).exit_code == 0
    assert cli("tenant", "add", "shop-one", "--db-url", url, "--no-event-history").exit_code == 0
    [row] = orjson.loads(cli("tenant", "list", "--json").stdout)
    assert row["name"] == "shop-one" and row["is_active"] and not row["event_history"]
    assert cli("tenant", "deactivate", "shop-one").exit_code == 0
    assert orjson.loads(cli("tenant", "show", "shop-one", "--json").stdout)["is_active"] is False
    assert cli("tenant", "activate", "shop-one").exit_code == 0
    assert orjson.loads(cli("tenant", "show", "shop-one", "--json").stdout)["is_active"] is True
    assert inspect(make_engine(url)).has_table("sync_runs")  # tenant add created our tables
    result = cli("integrations", "shop-one", "--json")
    [integration] = orjson.loads(result.stdout)
    assert integration["platform"] == "woocommerce" and integration["errors"] == []
    assert [op["operation"] for op in integration["operations"] if op["runs_automatically"]] == [
        "import-orders", "update-order-statuses", "export-products", "update-stock"]
    assert cli("tenant", "remove", "shop-one").exit_code == 0
    assert orjson.loads(cli("tenant", "list", "--json").stdout) == []
    assert inspect(make_engine(url)).has_table("products")  # remove touches no ERP data


def test_password_encrypted_and_never_printed(
    cli: Callable[..., object], make_database: Callable[[str], str]
) -> None:
    plain = make_database("postgresql")  # the server trusts 127.0.0.1, so any password works
    _demo_erp(plain)
    url = plain.replace("postgres@", f"postgres:{SECRET}@")
    assert cli("tenant", "add", "pg", "--db-url", url).exit_code == 0
    outputs = [cli("tenant", "list").stdout, cli("tenant", "list", "--json").stdout,
               cli("tenant", "show", "pg").stdout, cli("integrations", "pg").stdout]
    assert all(SECRET not in out for out in outputs)
    control: Path = cli.control  # type: ignore[attr-defined]
    raw = b"".join(p.read_bytes() for p in control.parent.glob("control.db*"))
    assert SECRET.encode() not in raw
    reg = Registry(Settings())
    assert reg.url_of(reg.get("pg")).password == SECRET
    reg.close()


def test_conflict_is_a_configuration_error(
    cli: Callable[..., object], make_database: Callable[[str], str]
) -> None:
    url = make_database("sqlite")
    _demo_erp(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(update(shop_integration_operations).values(enabled=True))
    cli("tenant", "add", "both", "--db-url", url)
    [integration] = orjson.loads(cli("integrations", "both", "--json").stdout)
    assert any("product import and product export" in e for e in integration["errors"])
    automatic = {op["operation"] for op in integration["operations"] if op["runs_automatically"]}
    assert "import-products" not in automatic and "export-products" not in automatic
    assert "import-orders" in automatic


def test_bad_input(cli: Callable[..., object], make_database: Callable[[str], str]) -> None:
    good = make_database("sqlite")
    _demo_erp(good)
    cli("tenant", "add", "taken", "--db-url", good)
    empty = make_database("postgresql")

    _assert_user_error(cli("tenant", "add", "x", "--db-url", "not a url"), "malformed database URL")
    _assert_user_error(
        cli("tenant", "add", "x", "--db-url", f"postgresql://u:{SECRET}@127.0.0.1:1/x"),
        "cannot reach",
    )
    _assert_user_error(cli("tenant", "add", "x", "--db-url", empty), "not an ILUO Biznes database")
    _assert_user_error(cli("tenant", "add", "taken", "--db-url", good), "already exists")
    _assert_user_error(cli("tenant", "add", "bad name!", "--db-url", good), "invalid tenant name")
    _assert_user_error(cli("integrations", "nobody"), "no tenant named 'nobody'")
    _assert_user_error(cli("tenant", "deactivate", "nobody"), "no tenant named")
    _assert_user_error(cli("run", "taken", "1", "sideways"), "unknown operation")
    _assert_user_error(cli("erp", "create", good), "already has ERP tables")

    result = cli("tenant", "add", "x", "--db-url", f"postgresql://u:{SECRET}@127.0.0.1:1/x")
    assert SECRET not in result.stderr  # type: ignore[attr-defined]
    names = [t["name"] for t in orjson.loads(cli("tenant", "list", "--json").stdout)]
    assert names == ["taken"]  # nothing written by any of the failures
    assert not inspect(make_engine(empty)).get_table_names()  # no sync_* tables left behind


def test_non_sqlite_control_db_needs_a_key(
    cli: Callable[..., object], make_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ILUO_SYNC_CONTROL_DB", make_database("postgresql"))
    good = make_database("sqlite")
    _demo_erp(good)
    _assert_user_error(
        cli("tenant", "add", "t", "--db-url", good), "ILUO_SYNC_SECRET_KEY must be set"
    )
    monkeypatch.setenv("ILUO_SYNC_SECRET_KEY", "not-a-key")
    _assert_user_error(cli("tenant", "add", "t", "--db-url", good), "not a valid key")


def test_pyodbc_is_not_loaded_without_an_odbc_url(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from app.cli import _load_commands; _load_commands();"
        "from shared.db import make_engine;"
        "make_engine('sqlite:///' + sys.argv[1]).connect().close();"
        "assert 'pyodbc' not in sys.modules, 'pyodbc imported'"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.db")], check=True)
