"""Secrets never leave the process: one run of everything with known secret values, then a
search of everything that was emitted.

Known values: the tenant database password (PostgreSQL, in the URL given to `tenant add`),
the shop's API key and secret (WooCommerce; chosen so that no generic pattern — `ck_`, `cs_`,
`password=` — would catch them: only the registration of loaded secrets can). The shop echoes
both shop secrets back in an error, as real shops do.

What runs: the command line (`tenant add` — also a failing one — `tenant list/show`,
`integrations`, `run --json` of all five operations, `events`) through the real entry point,
each operation through `run_operation`, and every operation through the dramatiq actors on a
StubBroker (tick → messages → worker → actor → run → schedule row, Sentry on failure).

What is searched: every log record at DEBUG on the root logger (message and traceback), every
message body the broker took (and its dead letters), every Sentry event (capturing transport),
every sync_runs / sync_events row of the tenant, every row of the control database
(service_events, schedules, tenants, heartbeats, message_deliveries), and all CLI output.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
import sentry_sdk
from cryptography.fernet import Fernet
from sqlalchemy import Engine, MetaData, select, update

import shared.broker
import workers.broker
from app.cli import main
from shared.control.refresh import refresh_tenant
from shared.control.registry import Registry
from shared.control.runtime import use_registry
from shared.control.schedule import ScheduleConfig, now_s
from shared.control.tables import control_metadata
from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.schema import products as erp_products
from shared.erp.sync_tables import sync_events, sync_runs
from shared.jobs import SYNC_QUEUES
from shared.settings import Settings, get_settings
from shared.telemetry.sentry import init_sentry
from tests.telemetry.test_redact_and_sentry import CapturingTransport
from workers.domain import Operation
from workers.runner import run_operation
from workers.shops.sandbox import SandboxRequest, SandboxResponse, json_response
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

# Built at run time (Sentry also sends source lines of this file with a traceback) and shaped
# so no generic pattern masks them: only their registration as loaded secrets can.
DB_PASSWORD = "haslo" + "Bazy-K3vN8mQ"
API_KEY = "klucz" + "Sklepu7Q4xZ9vT2"
API_SECRET = "sekret" + "SklepuRw2pL8nB5"
SECRETS = (DB_PASSWORD, API_KEY, API_SECRET)
OPS = [op.cli_name for op in Operation if op is not Operation.IMPORT_PRODUCTS] + [
    Operation.IMPORT_PRODUCTS.cli_name]


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


class EchoingShop(WooCommerceSandbox):
    """The WooCommerce sandbox, except that order reads fail with an error that repeats the
    caller's key and secret (as a misconfigured shop or a chatty WAF does)."""

    echo = False

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if self.echo and request.method == "GET" and request.path.endswith("/orders"):
            return json_response(401, {
                "code": "woocommerce_rest_cannot_view",
                "message": f"Sorry, key {API_KEY} with secret {API_SECRET} cannot list orders",
            })
        if self.echo and request.method == "POST" and request.path.endswith("/products/batch"):
            # Per-item errors inside a 200 answer: the HTTP layer never sees these as errors,
            # so only the registered secrets stand between them and the history.
            body = request.json()
            return json_response(200, {action: [
                {"id": 0, "error": {"code": "woocommerce_rest_product_invalid",
                                    "message": f"Key {API_KEY} may not write ({API_SECRET})"}}
                for _ in items] for action, items in body.items()})
        return super().handle(request)


@pytest.fixture
def shop() -> Iterator[EchoingShop]:
    sandbox = EchoingShop(API_KEY, API_SECRET, site_timezone="Europe/Warsaw")
    with sandbox.serve() as handle:
        sandbox.base_url = handle.base_url  # type: ignore[attr-defined]
        yield sandbox


@pytest.fixture
def tenant_url(make_database: Callable[[str], str], shop: EchoingShop) -> Iterator[str]:
    """A PostgreSQL ERP whose URL carries the password (the test server trusts local users,
    so any password connects — exactly what lets us use a known one)."""
    url = make_database("postgresql").replace("postgres@", f"postgres:{DB_PASSWORD}@")
    engine = make_engine(url)
    create_erp_schema(engine)
    fill_demo(engine, base_url=shop.base_url, api_key=API_KEY,  # type: ignore[attr-defined]
              api_secret=API_SECRET, products=12)
    engine.dispose()
    yield url


@pytest.fixture
def control(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("ILUO_SYNC_CONTROL_DB", f"sqlite:///{tmp_path / 'control.db'}")
    monkeypatch.setenv("ILUO_SYNC_SECRET_KEY", key)
    get_settings.cache_clear()
    yield Settings()
    get_settings.cache_clear()


@pytest.fixture
def sentry_events() -> Iterator[list[dict[str, Any]]]:
    transport = CapturingTransport()
    init_sentry(None, transport=transport)
    yield transport.events
    sentry_sdk.get_client().close()
    sentry_sdk.init()


@pytest.fixture
def plain_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start from a process without our log redaction, so the test proves the entry points
    install it (an earlier test may have)."""
    original = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    monkeypatch.setattr(shared.broker, "_error_reporting_ready", False)
    yield
    logging.setLogRecordFactory(original)


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        *args: str) -> tuple[int, str]:
    """`iluo-sync ARGS` through the real entry point; (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["iluo-sync", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def table_text(engine: Engine, *tables: Any) -> str:
    with engine.connect() as conn:
        return "\n".join(repr(row) for table in tables for row in conn.execute(select(table)))


def test_no_secret_leaves_the_process(
    control: Settings, tenant_url: str, shop: EchoingShop, plain_logging: None,
    sentry_events: list[dict[str, Any]], caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []

    # -- the command line ---------------------------------------------------------------------
    code, out = cli(capsys, monkeypatch, "tenant", "add", "shop1", "--db-url", tenant_url)
    assert code == 0, out
    assert getattr(logging.getLogRecordFactory(), "_iluo_redacting", False), \
        "iluo-sync main() must install log redaction"
    outputs.append(out)
    unreachable = tenant_url.replace("127.0.0.1:5432", "127.0.0.1:1")
    code, out = cli(capsys, monkeypatch, "tenant", "add", "broken", "--db-url", unreachable)
    assert code == 2 and "cannot reach" in out
    outputs.append(out)
    for args in (["tenant", "list"], ["tenant", "list", "--json"], ["tenant", "show", "shop1"],
                 ["tenant", "show", "shop1", "--json"], ["integrations", "shop1"],
                 ["integrations", "shop1", "--json"]):
        code, out = cli(capsys, monkeypatch, *args)
        assert code == 0, (args, out)
        outputs.append(out)
    for op in OPS:
        code, out = cli(capsys, monkeypatch, "run", "shop1", "1", op, "--json")
        assert code == 0, (op, out)
        outputs.append(out)
    shop.echo = True  # from here on the shop repeats the key and secret in its errors
    code, out = cli(capsys, monkeypatch, "run", "shop1", "1", "import-orders", "--json")
    assert code == 1 and "401" in out
    outputs.append(out)
    for args in (["events", "shop1", "--json", "--limit", "1000"], ["events", "shop1"],
                 ["events", "shop1", "--errors"]):
        code, out = cli(capsys, monkeypatch, *args)
        assert code == 0
        outputs.append(out)

    # -- each operation through run_operation -------------------------------------------------
    registry = Registry(control)
    tenant = registry.get("shop1")
    engine = registry.tenant_engine(tenant)
    with engine.begin() as conn:  # every product differs from what was sent: all re-sent
        conn.execute(update(erp_products).values(name=erp_products.c.name + " (nowa)"))
    results = [run_operation(engine, 1, op, holder="secrets") for op in OPS]
    assert results[0].outcome == "failed" and "401" in (results[0].error or "")
    exported = results[OPS.index("export-products")]
    assert exported.outcome == "partial" and exported.counts["failed"] > 0  # echoed item errors
    outputs += [repr(r.to_dict()) for r in results]

    # -- every operation through the actors on a StubBroker -----------------------------------
    sent: list[bytes] = []
    use_registry(registry)
    try:
        stub = workers.broker.build_stub_broker()
        assert getattr(logging.getLogRecordFactory(), "_iluo_redacting", False)
        import workers.actors as actors

        for queue in SYNC_QUEUES:
            real = {"orders": actors.sync_orders, "stock": actors.sync_stock,
                    "catalog": actors.sync_catalog}[queue]
            dramatiq.actor(real.fn, broker=stub, actor_name=real.actor_name, queue_name=queue)
        enqueue = stub.enqueue

        def recording_enqueue(message: Any, *, delay: Any = None) -> Any:
            sent.append(message.encode())
            return enqueue(message, delay=delay)

        stub.enqueue = recording_enqueue  # type: ignore[method-assign]
        refresh_tenant(registry, tenant.id)
        from producers.tick import publish_due

        claimed, published = publish_due(registry.engine, stub, now_s(), ScheduleConfig())
        assert published >= 4, (claimed, published)
        worker = dramatiq.Worker(stub, worker_timeout=50, worker_threads=2)
        worker.start()
        try:
            for queue in SYNC_QUEUES:
                stub.join(queue, timeout=60_000)
            worker.join()
        finally:
            worker.stop()
        sent += [m.encode() for q in stub.dead_letters_by_queue.values() for m in q]
    finally:
        use_registry(None)

    # -- the search ---------------------------------------------------------------------------
    assert any(API_KEY in entry.query.get("oauth_consumer_key", "")
               for entry in shop.log.entries()), "the shop did receive the key (not vacuous)"
    assert sentry_events, "a failed run reports to Sentry"
    found: dict[str, list[str]] = {}

    def search(where: str, text: str) -> None:
        if leaks(text):
            found.setdefault(where, []).append(text[:300])

    for record in caplog.records:
        search(f"log {record.name}", record.getMessage())
        search(f"log traceback {record.name}", record.exc_text or "")
    search("log text", caplog.text)
    for body in sent:
        search("broker message", body.decode("utf-8", "replace"))
    for event in sentry_events:
        search("sentry event", repr(event))
    search("tenant history", table_text(engine, sync_runs, sync_events))
    control_tables = [control_metadata.tables[name] for name in control_metadata.tables]
    search("control database", table_text(registry.engine, *control_tables))
    tenant_meta = MetaData()
    tenant_meta.reflect(engine, only=lambda name, _meta: name.startswith("sync_"))
    search("tenant sync_* tables", table_text(engine, *tenant_meta.sorted_tables))
    for out in outputs:
        search("cli output", out)
    registry.close()

    assert found == {}
    # And the runs were real: item events, failed runs with the shop's (masked) complaint,
    # runs of every operation started by the actors.
    history = table_text(engine, sync_events)
    assert "***" in history and "cannot list orders" in history and "may not write" in history
    with engine.connect() as conn:
        scheduled = set(conn.execute(select(sync_runs.c.operation)
                                     .where(sync_runs.c.trigger == "schedule")).scalars())
    assert scheduled >= {"import_orders", "export_products", "update_stock"}
