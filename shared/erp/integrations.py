"""Reading an ERP database's shop integration settings (Administration > Online shops).

Everything is read fresh whenever it is needed (each run, each settings refresh) so a change made
in the ERP applies with no restart. Configuration errors are computed here once, so `integrations`,
the tick and a run all report the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Select, Table, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.erp import options
from shared.erp.schema import (
    labels,
    shop_integration_labels,
    shop_integration_operations,
    shop_integration_warehouses,
    shop_integrations,
    shop_status_map,
)
from shared.operation import Operation
from shared.redact import register_secret

PLATFORMS = ("woocommerce", "prestashop", "shoper", "idosell", "vendure", "allegro")
DEFAULT_INTERVAL = 5
CONFLICT = "product import and product export are both enabled: neither runs until one is off"


@dataclass(frozen=True, slots=True)
class OperationSetting:
    operation: Operation
    enabled: bool
    interval_minutes: int


@dataclass(frozen=True, slots=True)
class IntegrationConfig:
    id: int
    name: str
    platform: str
    base_url: str
    api_key: str = field(repr=False)
    api_secret: str | None = field(repr=False)
    is_active: bool
    auto_sync: bool
    shop_timezone: str
    orders_since: datetime | None
    updated_at: datetime | None
    operations: dict[Operation, OperationSetting]
    export_labels: dict[int, str]  # label id -> name, scope export_products
    stock_labels: dict[int, str]  # label id -> name, scope export_stock
    warehouses: tuple[int, ...]  # empty = all warehouses
    status_map: dict[int, str]  # ERP status id -> shop status
    options: dict[str, str] = field(default_factory=dict)  # ours: sync_integration_options

    @property
    def verify_tls(self) -> bool:
        """TLS certificates are checked unless `verify-tls` is explicitly `off` (and allowed)."""
        return self.options.get(options.VERIFY_TLS, options.default(options.VERIFY_TLS)) != "off"

    @property
    def safety_on(self) -> bool:
        """The safety valves apply unless the integration's `safety` option is `off`."""
        return self.options.get(options.SAFETY, options.default(options.SAFETY)) != "off"

    @property
    def errors(self) -> list[str]:
        """Problems that stop automatic runs (shown by `integrations`, the tick and runs)."""
        problems: list[str] = []
        if self.platform not in PLATFORMS:
            problems.append(f"unknown platform {self.platform!r} (expected {', '.join(PLATFORMS)})")
        if not _is_http_url(self.base_url):
            problems.append(f"base_url {self.base_url!r} is not an http(s) address")
        try:
            ZoneInfo(self.shop_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"unknown shop_timezone {self.shop_timezone!r}")
        for name, value in sorted(self.options.items()):
            problem = options.problem_with(name, value, self.base_url)
            if problem:
                problems.append(problem)
        if self.product_conflict:
            problems.append(CONFLICT)
        problems.extend(
            f"{setting.operation.cli_name}: interval {setting.interval_minutes} min "
            "is below 1 minute"
            for setting in self.operations.values()
            if setting.enabled and setting.interval_minutes < 1
        )
        return problems

    @property
    def product_conflict(self) -> bool:
        ops = self.operations
        return ops[Operation.IMPORT_PRODUCTS].enabled and ops[Operation.EXPORT_PRODUCTS].enabled

    def blocked_reason(self, operation: Operation) -> str | None:
        """Why `operation` cannot run now at all (manually or automatically), or None."""
        errors = [e for e in self.errors if e != CONFLICT]
        if errors:
            return "; ".join(errors)
        if self.product_conflict and operation.resource == "catalog":
            return CONFLICT
        return None

    def runs_automatically(self, operation: Operation) -> bool:
        return (
            self.is_active
            and self.auto_sync
            and self.operations[operation].enabled
            and self.blocked_reason(operation) is None
        )

    @property
    def shop_status_to_erp(self) -> dict[str, int]:
        """Reverse map for imports; when two ERP statuses share a shop status the lower id wins."""
        reverse: dict[str, int] = {}
        for erp_id, shop_status in sorted(self.status_map.items()):
            reverse.setdefault(shop_status, erp_id)
        return reverse


def _is_http_url(text: str) -> bool:
    try:
        url = make_url(text) if "://" in text else None
    except ArgumentError:
        return False
    return url is not None and url.drivername in ("http", "https") and bool(url.host)


def load_integrations(
    conn: Connection, integration_id: int | None = None
) -> list[IntegrationConfig]:
    """All integrations (or one) with their operations, labels, warehouses and status map."""

    def where(table: Table) -> Select[Any]:
        stmt = select(table)
        if integration_id is not None:
            stmt = stmt.where(table.c.integration_id == integration_id)
        return stmt

    ops: dict[int, dict[Operation, OperationSetting]] = {}
    for row in conn.execute(where(shop_integration_operations)):
        try:
            op = Operation(row.operation)
        except ValueError:
            continue  # an operation this version does not know is not ours to run
        interval = row.interval_minutes if row.interval_minutes is not None else DEFAULT_INTERVAL
        ops.setdefault(row.integration_id, {})[op] = OperationSetting(
            op, bool(row.enabled), interval
        )

    # The integration's labels with their names in one statement (a label gone: "#id").
    il = shop_integration_labels
    named = select(il.c.integration_id, il.c.scope, il.c.label_id, labels.c.name).outerjoin(
        labels, labels.c.id == il.c.label_id)
    if integration_id is not None:
        named = named.where(il.c.integration_id == integration_id)
    scoped: dict[tuple[int, str], dict[int, str]] = {}
    for row in conn.execute(named):
        scoped.setdefault((row.integration_id, row.scope), {})[row.label_id] = (
            row.name if row.name is not None else f"#{row.label_id}")

    stores: dict[int, list[int]] = {}
    for row in conn.execute(where(shop_integration_warehouses)):
        stores.setdefault(row.integration_id, []).append(row.warehouse_id)

    status: dict[int, dict[int, str]] = {}
    for row in conn.execute(where(shop_status_map)):
        status.setdefault(row.integration_id, {})[row.erp_status_id] = row.shop_status.strip()

    ours = options.read(conn, integration_id)

    stmt = select(shop_integrations).order_by(shop_integrations.c.id)
    if integration_id is not None:
        stmt = stmt.where(shop_integrations.c.id == integration_id)
    result = []
    for row in conn.execute(stmt):
        # Read means in use: masked in every log line, message and history row from now on.
        register_secret(row.api_key)
        register_secret(row.api_secret)
        own_ops = ops.get(row.id, {})
        result.append(
            IntegrationConfig(
                id=row.id,
                name=row.name,
                platform=(row.platform or "").strip().lower(),
                base_url=(row.base_url or "").strip(),
                api_key=row.api_key or "",
                api_secret=row.api_secret,
                is_active=bool(row.is_active),
                auto_sync=bool(row.auto_sync),
                shop_timezone=(row.shop_timezone or "Europe/Warsaw").strip(),
                orders_since=row.orders_since,
                updated_at=row.updated_at,
                operations={
                    op: own_ops.get(op, OperationSetting(op, False, DEFAULT_INTERVAL))
                    for op in Operation
                },
                export_labels=scoped.get((row.id, "export_products"), {}),
                stock_labels=scoped.get((row.id, "export_stock"), {}),
                warehouses=tuple(sorted(stores.get(row.id, []))),
                status_map=status.get(row.id, {}),
                options=ours.get(row.id, {}),
            )
        )
    return result


def load_integration(conn: Connection, integration_id: int) -> IntegrationConfig | None:
    found = load_integrations(conn, integration_id)
    return found[0] if found else None
