"""Bad Allegro input through the real engine: a form without buyer data, a line without a
signature, a malformed form, a command report with failures — an item error or an import,
never a crash and never a lost order (issue 16, "Bad input")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select, update

from shared.db import make_engine
from shared.erp import retry_set
from shared.erp import schema as erp
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.sync_tables import sync_events, sync_oauth_tokens, sync_runs
from shared.migrate import TENANT, upgrade
from tests.shops.allegro.support import CLIENT_ID, CLIENT_SECRET, connection
from workers.engine.connector_state import SqlConnectorState
from workers.runner import run_operation
from workers.shops.allegro.auth import authorise
from workers.shops.allegro.sandbox import AllegroSandbox
from workers.shops.sandbox import SandboxHandle


@pytest.fixture
def shop() -> Iterator[tuple[AllegroSandbox, SandboxHandle]]:
    sandbox = AllegroSandbox(CLIENT_ID, CLIENT_SECRET)
    with sandbox.serve() as handle:
        yield sandbox, handle


@pytest.fixture
def erp_db(shop: tuple[AllegroSandbox, SandboxHandle], tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Engine:
    """A demo ERP whose integration #1 is this Allegro sandbox, authorised by the seller."""
    _, handle = shop
    monkeypatch.setenv("ILUO_SYNC_SECRET_KEY", Fernet.generate_key().decode())
    engine = make_engine(f"sqlite:///{tmp_path / 'erp.db'}")
    create_erp_schema(engine)
    fill_demo(engine, platform="allegro", base_url=handle.base_url, api_key=CLIENT_ID,
              api_secret=CLIENT_SECRET, products=5)
    with engine.begin() as conn:
        conn.execute(update(erp.shop_integrations).values(base_url=handle.base_url))
    upgrade(engine, TENANT)
    authorise(connection(handle), SqlConnectorState(engine, 1), lambda d: None,
              sleep=lambda s: None)
    return engine


def test_bad_forms_are_imported_leniently_or_kept_never_lost(
    shop: tuple[AllegroSandbox, SandboxHandle], erp_db: Engine,
) -> None:
    sandbox, _ = shop
    placed = datetime.now(UTC) - timedelta(minutes=1)
    good = sandbox.add_form([("SKU-1", 1, Decimal("9.99"))], updated=placed)
    no_buyer = sandbox.add_form([("SKU-1", 1, Decimal("9.99"))], updated=placed)
    no_buyer["buyer"] = None
    unsigned = sandbox.add_form([(None, 2, Decimal("4.00"))], updated=placed)
    broken = sandbox.add_form([("SKU-1", 1, Decimal("9.99"))], updated=placed)
    broken["lineItems"][0]["price"] = {"amount": "dziewięć", "currency": "PLN"}

    result = run_operation(erp_db, 1, "import-orders", holder="t")
    assert result.outcome in ("ok", "partial"), result.error
    with erp_db.connect() as conn:
        imported = set(conn.execute(select(erp.orders.c.external_id)).scalars())
        kept = {k.shop_id for k in retry_set.listing(conn, 1)}
        lines = list(conn.execute(select(erp.order_lines.c.sku, erp.order_lines.c.product_id)
                                  .join(erp.orders)
                                  .where(erp.orders.c.external_id == unsigned["id"])))
    assert {good["id"], unsigned["id"]} <= imported
    for form in (no_buyer, broken):  # each is in the ERP or kept for another look
        assert (form["id"] in imported) != (form["id"] in kept), form["id"]
    assert broken["id"] in kept and result.outcome == "partial"
    assert lines == [("", None)]  # a line without signature: unmatched, not refused


def test_a_command_report_with_failures_fails_only_those_items(
    shop: tuple[AllegroSandbox, SandboxHandle], erp_db: Engine,
) -> None:
    sandbox, _ = shop
    with erp_db.connect() as conn:
        skus = list(conn.execute(select(erp.products.c.sku).order_by(erp.products.c.id))
                    .scalars())
    for sku in skus:
        sandbox.add_offer(sku=sku, name=f"Oferta {sku}", price=Decimal("5.00"), stock=1)
    assert run_operation(erp_db, 1, "export-products", holder="t").outcome == "ok"
    # One offer is taken over by another account meanwhile: its task will FAIL.
    [lost] = sandbox.offers_by_sku(skus[0])
    lost["_seller"] = False
    stock = run_operation(erp_db, 1, "update-stock", holder="t")
    # The report names it "not found": no longer the seller's offer, so its binding is
    # dropped (skipped with a warning, as a product deleted in a shop); the rest is written.
    assert stock.outcome == "ok", stock.error
    counts = stock.counts
    assert (counts["skipped"], counts["failed"]) == (1, 0)
    assert counts["updated"] == counts["read"] - 1 > 0
    assert lost["stock"]["available"] == 1  # untouched


def test_tokens_never_reach_the_history(
    shop: tuple[AllegroSandbox, SandboxHandle], erp_db: Engine,
) -> None:
    """Runs that refresh, fail on a revoked authorisation and succeed leave no token in the
    event history or the run records."""
    sandbox, _ = shop
    sandbox.add_form([("SKU-1", 1, Decimal("9.99"))],
                     updated=datetime.now(UTC) - timedelta(minutes=1))
    with sandbox.lock:
        sandbox.access.clear()  # the next run must refresh
    assert run_operation(erp_db, 1, "import-orders", holder="t").outcome == "ok"
    tokens = [*sandbox.access, *sandbox.refresh]
    sandbox.revoke()
    with erp_db.begin() as conn:
        conn.execute(update(sync_oauth_tokens).values(
            expires_at=datetime.now(UTC).replace(tzinfo=None)))
    failed = run_operation(erp_db, 1, "import-orders", holder="t")
    assert failed.outcome == "failed" and "integration-auth" in (failed.error or "")
    with erp_db.connect() as conn:
        texts = [str(v) for row in conn.execute(select(sync_events)) for v in row]
        texts += [str(v) for row in conn.execute(select(sync_runs)) for v in row]
    assert tokens and not any(token in text for token in tokens for text in texts)
