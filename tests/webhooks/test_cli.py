"""`iluo-sync webhooks register / check` and the receiver's command on the command line: exit
codes, what is printed, and that a user's mistake is one line on stderr with nothing changed."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from app.cli import _load_commands, app, main
from app.webhooks import store
from shared.control.refresh import refresh_tenant
from shared.control.schedule import now_s
from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.schema import shop_integrations
from shared.erp.sync_tables import sync_webhooks
from tests.webhooks.conftest import INTEGRATION, Hooked, Live
from tests.webhooks.harness import free_port

_load_commands()


@pytest.fixture
def cli(hooked: Hooked, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """`iluo-sync …` in this process, against the test's control database and key."""
    settings = hooked.registry.settings
    monkeypatch.setenv("ILUO_SYNC_CONTROL_DB", settings.control_db)
    assert settings.secret_key is not None
    monkeypatch.setenv("ILUO_SYNC_SECRET_KEY", settings.secret_key.get_secret_value())
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def webhook_rows(hooked: Hooked) -> list[Any]:
    with hooked.erp.connect() as conn:
        return [tuple(r) for r in conn.execute(select(sync_webhooks))]


def test_register_and_check_print_what_they_did(live: Live, cli: Callable[..., Result]) -> None:
    hooked = live.hooked
    hooked.shop.hooks.allow_local, hooked.shop.hooks.queue.delay = True, 0.0
    done = cli("webhooks", "register", "shop", str(INTEGRATION), "--public-url", live.url,
               "--allow-local")
    assert done.exit_code == 0, done.output
    assert one_line(done.stdout) == "#1: shop webhooks 1, 2 registered"

    checked = cli("webhooks", "check")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.splitlines() == ["shop #1 webhook 1: active → kept",
                                           "shop #1 webhook 2: active → kept"]

    hooked.shop.hooks.webhooks[2]["status"] = "disabled"
    repaired = cli("webhooks", "check", "shop", str(INTEGRATION), "--json")
    assert repaired.exit_code == 0
    assert '"action": "re-enabled"' in repaired.stdout
    assert hooked.shop.hooks.webhooks[2]["status"] == "active"

    shown = cli("integrations", "shop")
    assert "webhook:       registered, active in the shop" in shown.stdout


def test_register_refuses_user_mistakes_in_one_line_and_changes_nothing(
    live: Live, cli: Callable[..., Result],
) -> None:
    hooked = live.hooked
    before = webhook_rows(hooked)
    for args, needle in (
        (("shop", "1", "--public-url", live.url), "public https URL"),  # 127.0.0.1, port
        (("shop", "1", "--public-url", "https://user:pw@hooks.example.com"), "password"),
        (("shop", "1", "--public-url", "ftp://hooks.example.com"), "http"),
        (("nobody", "1", "--public-url", "https://hooks.example.com"), "no tenant named"),
        (("shop", "99", "--public-url", "https://hooks.example.com"), "no shop integration"),
    ):
        result = cli("webhooks", "register", *args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in one_line(result.stderr) and result.stdout == ""
    assert webhook_rows(hooked) == before and hooked.shop.hooks.webhooks == {}


def test_register_undoes_itself_when_the_shop_refuses(
    live: Live, cli: Callable[..., Result],
) -> None:
    hooked = live.hooked
    before = webhook_rows(hooked)
    with hooked.erp.begin() as conn:  # keys the shop does not know
        conn.execute(update(shop_integrations).values(api_secret="cs_wrong"))
    result = cli("webhooks", "register", "shop", "1", "--public-url", live.url, "--allow-local")
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith("iluo-sync: the shop refused the webhooks")
    assert webhook_rows(hooked) == before  # the old URL still works
    assert hooked.shop.hooks.webhooks == {}


@pytest.fixture
def second_tenant(hooked: Hooked, make_database: Callable[[str], str]) -> Iterator[str]:
    """Tenant `down`: webhooks registered, but its shop is not there any more."""
    url = make_database("sqlite")
    erp = make_engine(url)
    create_erp_schema(erp)
    fill_demo(erp, base_url=f"http://127.0.0.1:{free_port()}", api_key="ck_x",
              api_secret="cs_x", products=2)
    tenant = hooked.registry.add("down", url)
    refresh_tenant(hooked.registry, tenant.id)
    with hooked.registry.tenant_engine(tenant).begin() as conn:
        store.create(conn, hooked.registry.box, tenant.id, INTEGRATION, now_s())
        store.set_state(conn, INTEGRATION, now_s(), state="registered", shop_webhook_ids="1")
    yield "down"
    erp.dispose()


def test_check_reports_every_tenant_and_fails_at_the_end(
    live: Live, cli: Callable[..., Result], second_tenant: str,
) -> None:
    hooked = live.hooked
    hooked.shop.hooks.allow_local, hooked.shop.hooks.queue.delay = True, 0.0
    assert cli("webhooks", "register", "shop", "1", "--public-url", live.url,
               "--allow-local").exit_code == 0

    result = cli("webhooks", "check")
    assert result.exit_code == 1
    # The good tenant is checked whichever comes first; the unreachable shop is one line.
    assert "shop #1 webhook 1: active → kept" in result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in result.stderr
    assert errors[0].startswith("down #1: cannot read the shop's webhooks")
    assert errors[1] == "iluo-sync: 1 webhook check(s) failed or need a person"

    named = cli("webhooks", "check", "down", "1")
    assert named.exit_code == 1  # the shop is down: a failure, not a mistake in the command
    not_registered = cli("webhooks", "check", "shop", "7")
    assert not_registered.exit_code == 2
    assert "no shop integration #7" in one_line(not_registered.stderr)


def test_the_receiver_command_refuses_an_address_it_cannot_have(
    hooked: Hooked, cli: Callable[..., Result],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli("webhooks", "--port", str(port))
    assert busy.exit_code == 2
    assert one_line(busy.stderr).startswith(f"iluo-sync: cannot listen on 127.0.0.1:{port}")
    nowhere = cli("webhooks", "--host", "no-such-host.invalid", "--port", "8090")
    assert nowhere.exit_code == 2 and "cannot listen on" in one_line(nowhere.stderr)


@pytest.mark.parametrize(("argv", "needle"), [
    (["webhooks", "--port", "0"], "--port"),
    (["webhooks", "register", "shop", "one", "--public-url", "https://x.example"],
     "integration_id"),
    (["webhooks", "register", "shop", "1"], "--public-url"),
    (["webhooks", "check", "shop", "x"], "integration_id"),
    (["webhooks", "nonsense"], "nonsense"),
])
def test_usage_mistakes_are_one_line_and_exit_2(
    argv: list[str], needle: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "argv", ["iluo-sync", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert line.startswith("iluo-sync: ") and needle in line and "--help" in line
    assert captured.out == ""
