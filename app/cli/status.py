"""`iluo-sync status [--json]`: is the service alive and is anything failing — a health check."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from app.cli import app
from app.cli.common import fmt_time, print_json, registry, user_errors
from shared.control.health import Health, problems, read_health
from shared.control.schedule import now_s
from shared.jobs import QUEUES
from shared.redact import redact, redact_obj
from shared.telemetry.rabbitmq_api import BrokerQueues, read_queues

#: `status --help`, one rule a line (rich keeps the lines of a `\b` paragraph as they are).
HELP = (
    "The tick's last run, live workers, queue depths and dead letters (RabbitMQ management "
    "API), parked messages, and per tenant the operations that are overdue, running or failing "
    "(since when), and the tenants switched off.\n\n"
    "\b\nExit 1 when something needs a person:\n"
    "- no tick for more than 3 minutes (or never), or the last tick could not publish;\n"
    "- no live worker (a heartbeat within 90 s) for one of the queues orders, stock, catalog;\n"
    "- an operation failed ILUO_SYNC_ALERT_AFTER_FAILURES times in a row (default 3), or has an "
    "open alert (no success for ILUO_SYNC_ALERT_AFTER_INTERVALS intervals, default 6);\n"
    "- an operation overdue by more than 10 minutes (due, but neither queued nor running);\n"
    "- a message parked in the last 24 hours;\n"
    "- a shop item kept for retry (the ERP has not taken it) for longer than "
    "ILUO_SYNC_PENDING_ALERT_MINUTES (default 60); items needing attention are shown, not "
    "counted;\n"
    "- the RabbitMQ management API unreachable (ILUO_SYNC_RABBITMQ_API; set to empty to leave "
    "RabbitMQ out).\n\n"
    "Exit 0 otherwise, so it serves as a health check; 2 when the control database cannot be "
    "opened. Dead letters, inactive tenants and running operations are shown, not counted."
)


@app.command("status", help=HELP)
@user_errors
def status(as_json: bool = typer.Option(False, "--json", help="One JSON document.")) -> None:
    for noisy in ("httpx", "alembic"):  # a request line and a migration check are no news
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with registry() as reg:
        settings = reg.settings
        with reg.engine.connect() as conn:
            health = read_health(conn, now_s())
    api = settings.rabbitmq_api.get_secret_value()
    broker = read_queues(api, settings.broker_url.get_secret_value(), QUEUES) if api else None
    found = [redact(line) for line in
             problems(health, after_failures=settings.alert_after_failures, broker=broker,
                      kept_after=timedelta(minutes=settings.pending_alert_minutes))]
    if as_json:
        print_json(redact_obj({
            "healthy": not found,
            "problems": found,
            **health.to_dict(),
            "rabbitmq": broker.to_dict() if broker else None,
        }))
    else:
        _print(health, broker, found)
    raise typer.Exit(1 if found else 0)


def _print(health: Health, broker: BrokerQueues | None, found: list[str]) -> None:
    console = Console()
    tick = health.tick
    if tick is None:
        console.print("tick: never")
    else:
        info = tick.get("info") or {}
        console.print(f"tick: {fmt_time(tick['beat_at'])} UTC ({tick['age_seconds']} s ago): "
                      f"{info.get('claimed', 0)} claimed, {info.get('published', 0)} published, "
                      f"{info.get('alerts', 0)} alert(s)")
    live = health.live_workers()
    console.print(f"workers: {len(live)} live, {len(health.workers) - len(live)} silent")
    for worker in health.workers:
        state = "live" if worker["live"] else f"silent for {worker['age_seconds']} s"
        console.print(f"  {worker['component']}  {','.join(worker['queues'])}  "
                      f"{worker['threads'] or '?'} threads  {state}")
    _print_queues(console, broker)
    console.print(f"parked messages: {len(health.parked_recent)} in the last 24 h, "
                  f"{health.parked_total} in all")
    for parked in health.parked_recent[:10]:
        console.print(f"  {fmt_time(parked['at'])}  {parked['tenant'] or '-'}  "
                      f"{parked['operation'] or '-'}  {parked['message']}")
    console.print(f"tenants: {health.tenant_count} ({health.inactive_count} inactive)")
    _print_tenants(console, health)
    if found:
        console.print(f"[bold red]needs a person ({len(found)}):[/]")
        for line in found:
            console.print(f"  - {line}", markup=False)
    else:
        console.print("[bold green]all well[/]")


def _print_queues(console: Console, broker: BrokerQueues | None) -> None:
    if broker is None:
        console.print("queues: the RabbitMQ management API is not configured")
        return
    if not broker.reachable:
        console.print(f"queues: {broker.api} unreachable: {broker.error}", markup=False)
        return
    table = Table("queue", "ready", "unacked", "consumers", "delayed (.DQ)", "dead (.XQ)",
                  title=f"queues (vhost {broker.vhost})")
    for q in broker.queues:
        if not q.declared:
            table.add_row(q.name, "-", "-", "-", "-", "-")
            continue
        table.add_row(q.name, str(q.ready), str(q.unacked), str(q.consumers), str(q.delayed),
                      str(q.dead))
    console.print(table)


def _print_tenants(console: Console, health: Health) -> None:
    if not health.tenants:
        return
    table = Table("tenant", "integration", "operation", "state", "since", "detail")
    for tenant in health.tenants:
        if not tenant.active:
            table.add_row(tenant.name, "", "", "inactive", "", "")
        for op in tenant.operations:
            for row in _states(health, op):
                table.add_row(tenant.name, str(op.integration_id), op.operation, *row)
    console.print(table)


def _states(health: Health, op: Any) -> list[tuple[str, str, str]]:
    rows = []
    if op.overdue:
        rows.append(("overdue", fmt_time(op.next_due_at), ""))
    if op.running_since is not None:
        seconds = int((health.now - op.running_since).total_seconds())
        rows.append(("running", fmt_time(op.running_since), f"for {seconds} s"))
    if op.consecutive_failures or op.alerted_at is not None:
        state = f"failing x{op.consecutive_failures}" if op.consecutive_failures else "no success"
        if op.alerted_at is not None:
            state += " (alerted)"
        rows.append((state, fmt_time(op.failing_since or op.last_success_at),
                     (op.last_error or "")[:200]))
    if op.kept_retry or op.kept_attention:
        rows.append((f"kept {op.kept_retry}, attention {op.kept_attention}",
                     fmt_time(op.kept_since), "see `iluo-sync pending`"))
    return rows
