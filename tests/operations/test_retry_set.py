"""No order left behind (DESIGN rule 8): what an import cannot take is kept in the retry set,
re-read by id until it imports, visible meanwhile; a run with failed items ends `partial`.

WooCommerce sandbox over real HTTP; the ERP on SQLite and PostgreSQL. The ERP is made to refuse
an order the way the issue describes: a unique clash planted in the ERP (an order already holding
the number the import would give it), then removed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, delete, insert, select, update
from typer.testing import CliRunner

from app.cli import _load_commands, app
from shared.erp import retry_set
from shared.erp.demo import naive_utc_now
from shared.erp.retry_set import ATTENTION, RETRY, Failure
from shared.erp.schema import customers, orders
from shared.erp.sync_tables import sync_leases
from tests.engine.support import Shop, count, events, rows, run
from workers.engine.store import order_number
from workers.operations._kept import NOT_IN_SHOP

_load_commands()
OP = "import_orders"


def _kept(engine: Engine) -> list[retry_set.Kept]:
    with engine.connect() as conn:
        return retry_set.listing(conn, 1)


def _plant_clash(engine: Engine, external_id: str) -> None:
    """An ERP order that already holds the number the import gives `external_id`."""
    now = naive_utc_now()
    with engine.begin() as conn:
        customer = conn.execute(insert(customers).values(
            email="planted@example.pl", first_name="P", last_name="P", street="", city="",
            postcode="", country_code="PL", created_at=now, updated_at=now,
        )).inserted_primary_key[0]
        conn.execute(insert(orders).values(
            number=order_number(1, external_id), integration_id=1,
            external_id=f"planted-{external_id}", customer_id=customer, status_id=1,
            currency="PLN", total_gross=1, shipping_gross=0, is_paid=False, ordered_at=now,
            created_at=now, updated_at=now))


def _unplant(engine: Engine, external_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(orders).where(orders.c.external_id == f"planted-{external_id}"))


def _imported(engine: Engine) -> list[str]:
    return sorted(r.external_id for r in rows(engine, select(orders.c.external_id).where(
        orders.c.external_id.not_like("planted-%"))))


def test_an_order_the_erp_refuses_is_kept_until_it_imports(erp: Engine, woo: Shop) -> None:
    placed = [str(o["id"]) for o in woo.add_orders(3)]
    refused = placed[1]
    _plant_clash(erp, refused)

    first = run(erp, OP)
    assert first.outcome == "partial", first.error
    assert (first.counts["created"], first.counts["failed"]) == (2, 1)
    assert first.kept is not None and (first.kept.retry, first.kept.attention) == (1, 0)
    [kept] = _kept(erp)
    assert (kept.shop_id, kept.state, kept.attempts) == (refused, RETRY, 1)
    assert "the ERP refused the order" in (kept.last_error or "")
    assert kept.next_attempt_at <= naive_utc_now()  # due at the very next run

    # Still refused: re-read by id (one call), one more attempt, the next one 5 minutes later.
    mark = len(woo.sandbox.log)
    second = run(erp, OP)
    assert second.outcome == "partial" and second.counts["failed"] == 1
    [kept] = _kept(erp)
    assert kept.attempts == 2 and kept.next_attempt_at > naive_utc_now() + timedelta(minutes=4)
    by_id = [r for r in woo.sandbox.log.entries()[mark:] if "include" in r.query]
    assert len(by_id) == 1 and refused in by_id[0].query["include"]

    # Not due: the run neither re-reads it nor fails (the set still shows it).
    mark = len(woo.sandbox.log)
    third = run(erp, OP)
    assert third.outcome == "ok" and not [
        r for r in woo.sandbox.log.entries()[mark:] if "include" in r.query]
    assert len(_kept(erp)) == 1

    # The cause goes away; made due now (as `iluo-sync retry` does): imported, the set empties,
    # with no change in the shop.
    _unplant(erp, refused)
    with erp.begin() as conn:
        assert retry_set.make_due(conn, 1, naive_utc_now()) == 1
    fourth = run(erp, OP)
    assert fourth.outcome == "ok" and fourth.counts["created"] == 1
    assert _kept(erp) == [] and fourth.kept is not None and fourth.kept.retry == 0
    assert _imported(erp) == sorted(placed)
    assert run(erp, OP).counts["created"] == 0  # and never twice


def test_an_id_the_shop_no_longer_answers_needs_attention(erp: Engine, woo: Shop) -> None:
    woo.add_orders(1)
    with erp.begin() as conn:
        retry_set.keep(conn, 1, OP, [Failure("999999", "the ERP refused the order")],
                       naive_utc_now())
    result = run(erp, OP)
    assert result.outcome == "partial" and result.counts["failed"] == 1
    [kept] = _kept(erp)
    assert (kept.state, kept.attempts, kept.last_error) == (ATTENTION, 2, NOT_IN_SHOP)
    # Re-checked once a day, not at every run; never dropped by itself.
    assert kept.next_attempt_at > naive_utc_now() + timedelta(hours=23)
    [error] = [e for e in events(erp) if e.kind == "item_error"]
    assert error.shop_id == "999999" and error.message.startswith("needs attention: ")


def test_sigkill_in_the_middle_of_a_retry_pass_loses_and_doubles_nothing(
    erp: Engine, woo: Shop, tmp_path: Path,
) -> None:
    """250 kept orders, a worker killed on the spot after the retry pass's first page: the page
    it committed is imported and gone from the set, the rest is still kept; the next run
    finishes with every order once."""
    placed = [str(o["id"]) for o in woo.add_orders(250)]
    for external_id in placed:
        _plant_clash(erp, external_id)
    assert run(erp, OP).counts["failed"] == 250
    for external_id in placed:
        _unplant(erp, external_id)
    assert len(_kept(erp)) == 250

    script = tmp_path / "die_after_first_page.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal
        from shared.db import make_engine
        from tests.engine.support import run

        def die(done, total):
            os.kill(os.getpid(), signal.SIGKILL)  # right after the first page's commit

        run(make_engine({str(erp.url.render_as_string(hide_password=False))!r}),
            {OP!r}, progress=die)
    """))
    child = subprocess.run([sys.executable, str(script)], cwd=Path(__file__).parents[2],
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
                           capture_output=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    first_page = len(placed) - len(_kept(erp))
    assert first_page == 100  # WooCommerce's page: one include= call of 100 ids
    assert len(_imported(erp)) == first_page
    assert not set(_imported(erp)) & {k.shop_id for k in _kept(erp)}

    # The dead run's lease expires (as it does two minutes later); the next run re-reads the
    # rest by id and imports each order once.
    with erp.begin() as conn:
        conn.execute(update(sync_leases).values(expires_at=naive_utc_now() - timedelta(seconds=1)))
    result = run(erp, OP, holder="next")
    assert result.outcome == "ok", result.error
    assert result.counts["created"] == len(placed) - first_page
    assert _imported(erp) == sorted(placed) and _kept(erp) == []


def _cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    monkeypatch.setenv("ILUO_SYNC_CONTROL_DB", f"sqlite:///{tmp_path / 'control.db'}")
    monkeypatch.delenv("ILUO_SYNC_SECRET_KEY", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def _one_line_error(result: Any, needle: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("erp_db", ["sqlite"], indirect=True)
def test_run_exits_3_and_pending_and_retry_show_and_rearm_the_set(
    erp: Engine, woo: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli = _cli(tmp_path, monkeypatch)
    url = erp.url.render_as_string(hide_password=False)
    assert cli("tenant", "add", "shop1", "--db-url", url).exit_code == 0
    [placed] = [str(o["id"]) for o in woo.add_orders(1)]
    _plant_clash(erp, placed)

    ran = cli("run", "shop1", "1", "import-orders")
    assert ran.exit_code == 3, (ran.stdout, ran.stderr)
    assert "partial" in ran.stdout and "iluo-sync pending shop1" in ran.stderr

    listed = orjson.loads(cli("pending", "shop1", "--json").stdout)
    assert (listed["retry"], listed["attention"]) == (1, 0)
    [item] = listed["items"]
    assert (item["shop_id"], item["state"], item["attempts"]) == (placed, "retry", 1)
    assert item["since"].endswith("Z") and "refused" in item["last_error"]
    table = cli("pending", "shop1", "--integration", "1")
    assert table.exit_code == 0 and placed in table.stdout

    _unplant(erp, placed)
    with erp.begin() as conn:  # pushed far out, as after many attempts
        conn.execute(retry_set.sync_retry_items.update().values(
            next_attempt_at=naive_utc_now() + timedelta(hours=1)))
    assert cli("run", "shop1", "1", "import-orders").exit_code == 0  # not due: not re-read
    assert len(_kept(erp)) == 1
    rearmed = cli("retry", "shop1", "1", "--item", placed)
    assert rearmed.exit_code == 0 and "1 item(s) due" in rearmed.stdout
    assert cli("run", "shop1", "1", "import-orders").exit_code == 0
    assert _kept(erp) == [] and _imported(erp) == [placed]
    assert "nothing kept" in cli("pending", "shop1").stdout

    _one_line_error(cli("pending", "nobody"), "nobody")
    _one_line_error(cli("pending", "shop1", "--integration", "7"), "no shop integration #7")
    _one_line_error(cli("retry", "shop1", "7"), "no shop integration #7")
    _one_line_error(cli("retry", "shop1", "1", "--item", "nope"), "keeps no item 'nope'")
    assert count(erp, orders) == 1
