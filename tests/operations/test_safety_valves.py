"""Safety valves against the WooCommerce sandbox over real HTTP, on SQLite and PostgreSQL:
a run that would zero the shop's stock or deactivate much of its catalogue stops before its
first write; `force` (`run … --force`) or the integration option `safety off` let it through."""

from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, delete, select, update

from shared.db import make_engine
from shared.erp import options
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.schema import product_labels, products, stock_levels
from shared.erp.sync_tables import sync_events, sync_integration_options, sync_sent
from shared.settings import Settings
from tests.engine.support import KEY, SECRET, Shop, events, rows, run
from workers.engine.safety import SafetyLimits

STOCK, EXPORT = "update_stock", "export_products"


def _sent(engine: Engine) -> list[Any]:
    return rows(engine, select(sync_sent).order_by(sync_sent.c.kind, sync_sent.c.erp_id))


def _stock_everywhere(engine: Engine, quantity: Decimal) -> None:
    with engine.begin() as conn:
        conn.execute(update(stock_levels).values(quantity=quantity, reserved=Decimal(0)))


def _unlabel(engine: Engine, product_ids: list[int]) -> None:
    with engine.begin() as conn:
        conn.execute(delete(product_labels).where(product_labels.c.product_id.in_(product_ids),
                                                  product_labels.c.label_id == 1))


def _labelled(engine: Engine) -> list[int]:
    """The exported (bound) products: active and labelled 1."""
    pl = product_labels.c
    return [r.product_id for r in rows(engine, select(pl.product_id)
                                       .join(products, products.c.id == pl.product_id)
                                       .where(pl.label_id == 1, products.c.is_active)
                                       .order_by(pl.product_id))]


def test_stock_set_to_zero_for_everything_stops_before_any_write(erp: Engine, woo: Shop) -> None:
    assert run(erp, EXPORT).outcome == "ok"
    assert run(erp, STOCK).outcome == "ok"
    in_shop = {p["sku"]: p["stock_quantity"] for p in woo.sandbox.products.values()}
    assert any(q > 0 for q in in_shop.values())
    _stock_everywhere(erp, Decimal(0))
    writes, sent = woo.writes(), _sent(erp)

    stopped = run(erp, STOCK)

    assert stopped.outcome == "failed" and stopped.safety_stop
    assert stopped.error.startswith("safety stop: this run would set positive shop stock to 0")
    assert "--force" in stopped.error and "safety off" in stopped.error
    assert woo.writes() == writes and _sent(erp) == sent  # nothing written, nothing recorded
    assert {p["sku"]: p["stock_quantity"] for p in woo.sandbox.products.values()} == in_shop
    [event] = events(erp, sync_events.c.kind == "safety_stop")
    positive = sum(1 for q in in_shop.values() if q > 0)
    assert event.level == "error" and f"{positive} of {positive} (100 %" in event.message
    assert run(erp, STOCK).safety_stop  # and again, until someone decides

    forced = run(erp, STOCK, force=True)

    assert forced.outcome == "ok" and not forced.safety_stop
    assert all(p["stock_quantity"] == 0 for p in woo.sandbox.products.values())
    [override] = events(erp, sync_events.c.kind == "safety_override")
    assert override.level == "warning" and "forced (--force)" in override.message
    assert run(erp, STOCK).outcome == "ok"  # zero now: nothing left to drop


def test_a_few_products_selling_out_is_no_safety_stop(erp: Engine, woo: Shop) -> None:
    run(erp, EXPORT)
    run(erp, STOCK)
    with erp.begin() as conn:  # 3 of the ~28 products in stock sell out
        conn.execute(update(stock_levels).where(stock_levels.c.product_id.in_([1, 2, 3]))
                     .values(quantity=Decimal(0), reserved=Decimal(0)))

    result = run(erp, STOCK)

    assert result.outcome == "ok" and result.counts["updated"] == 3
    assert not events(erp, sync_events.c.kind.in_(["safety_stop", "safety_override"]))


def test_mass_deactivation_stops_and_the_safety_option_lets_it_through(
    erp: Engine, woo: Shop
) -> None:
    assert run(erp, EXPORT).counts["created"] == 28
    labelled = _labelled(erp)
    _unlabel(erp, labelled[:10])  # 10 of 28 bound products would go to draft: 36 % > 20 %
    writes = woo.writes()

    stopped = run(erp, EXPORT)

    assert stopped.outcome == "failed" and stopped.safety_stop and woo.writes() == writes
    assert "deactivate bound products: 10 of 28 (36 %; the limit is 20 %)" in stopped.error
    assert all(p["status"] == "publish" for p in woo.sandbox.products.values())

    with erp.begin() as conn:  # `iluo-sync integration-option T 1 safety off`
        options.write(conn, 1, options.SAFETY, "off", now=datetime(2030, 1, 1))
    through = run(erp, EXPORT)

    assert through.outcome == "ok" and through.counts["updated"] == 10
    assert sum(p["status"] == "draft" for p in woo.sandbox.products.values()) == 10
    [override] = events(erp, sync_events.c.kind == "safety_override")
    assert "safety option is off" in override.message
    with erp.begin() as conn:  # back on: already deactivated products do not count again,
        conn.execute(delete(sync_integration_options))  # not even in a full pass
    full = run(erp, EXPORT, full=True)
    assert full.outcome == "ok" and not full.safety_stop and full.counts["updated"] == 28


def test_thresholds_are_settings_and_a_dry_run_reports_the_stop(
    erp: Engine, woo: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(erp, EXPORT)
    _unlabel(erp, _labelled(erp)[:3])  # 3 of 28 = 11 %: fine by default, not under a 10 % cap

    monkeypatch.setenv("ILUO_SYNC_SAFETY_MAX_DEACTIVATE_PCT", "10")
    strict = SafetyLimits.from_settings(Settings())
    assert strict == SafetyLimits(max_deactivate_pct=10, max_zero_stock_pct=50)
    dry = run(erp, EXPORT, dry_run=True, safety=strict)
    assert dry.outcome == "failed" and dry.safety_stop and "3 of 28" in dry.error
    assert run(erp, EXPORT, safety=SafetyLimits(max_deactivate_pct=15)).outcome == "ok"


# -- the command line --------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         *args: str) -> tuple[int, str, str]:
    from app.cli import main

    monkeypatch.setattr(sys, "argv", ["iluo-sync", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_run_force_and_the_safety_option_on_the_command_line(
    woo: Shop, tmp_path: Path, make_database: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ILUO_SYNC_CONTROL_DB", f"sqlite:///{tmp_path / 'control.db'}")
    monkeypatch.setenv("ILUO_SYNC_SECRET_KEY", Fernet.generate_key().decode())
    url = make_database("sqlite")
    engine = make_engine(url)
    create_erp_schema(engine)
    fill_demo(engine, base_url=woo.base_url, api_key=KEY, api_secret=SECRET, products=12)
    assert _cli(capsys, monkeypatch, "tenant", "add", "valves", "--db-url", url)[0] == 0
    assert _cli(capsys, monkeypatch, "run", "valves", "1", "export-products")[0] == 0
    assert _cli(capsys, monkeypatch, "run", "valves", "1", "update-stock")[0] == 0
    _stock_everywhere(engine, Decimal(0))

    code, out, err = _cli(capsys, monkeypatch, "run", "valves", "1", "update-stock")
    assert code == 1 and "update-stock #1: failed" in out
    assert err.startswith("error: safety stop:") and len(err.strip().splitlines()) == 1
    code, out, err = _cli(capsys, monkeypatch, "run", "valves", "1", "update-stock", "--force")
    assert code == 0 and "update-stock #1: ok" in out
    assert all(p["stock_quantity"] == 0 for p in woo.sandbox.products.values())

    # Bad input: one line, exit 2, nothing run.
    runs = len(rows(engine, select(sync_events)))
    code, _, err = _cli(capsys, monkeypatch, "run", "valves", "1", "import-orders", "--force")
    assert code == 2 and err.count("\n") == 1 and "only export-products and update-stock" in err
    code, _, err = _cli(capsys, monkeypatch, "integration-option", "valves", "1", "safety", "maybe")
    assert code == 2 and err.count("\n") == 1 and "safety takes on or off" in err
    assert len(rows(engine, select(sync_events))) == runs
    code, out, _ = _cli(capsys, monkeypatch, "integration-option", "valves", "1", "safety", "OFF")
    assert code == 0 and "safety=off" in out
    code, out, _ = _cli(capsys, monkeypatch, "integration-option", "valves", "1", "safety")
    assert code == 0 and out == "safety=off\n"
    engine.dispose()
