"""Reading an ERP database's shop integration settings (Administration > Online shops).

Everything is read fresh whenever it is needed (each run, each settings refresh) so a change made
in the ERP applies with no restart. Configuration errors are computed here once, so `integrations`,
the tick and a run all report the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    Connection,
    Integer,
    Row,
    Select,
    String,
    Subquery,
    bindparam,
    cast,
    literal,
    null,
    select,
    union_all,
)
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
from shared.erp.sync_tables import sync_integration_options
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


#: The five child tables in one shape, (integration id, kind, key, n1, n2, text), so a settings
#: read is one statement (the integration rows outer-joined to their children) instead of six
#: round trips: an idle run pays for this read every time, and there are many idle runs.
#: Named like the run record's and the lease's parameters (`b_`): a plain column name among an
#: UPDATE's parameters would become one of its SET values (`settings_with`'s callers write).
_ONE = bindparam("b_integration_id", type_=Integer)


#: The children's columns, in order: a caller's own rows read with the settings (`read_with`)
#: take this shape too.
CHILD_COLUMNS = ("integration_id", "kind", "key", "n1", "n2", "txt")
_KNOWN_KINDS = frozenset({"op", "label", "wh", "status", "opt"})


def _child_rows(one: bool, with_options: bool, extra: Select[Any] | None = None) -> Subquery:
    def row(table: Any, kind: str, key: Any, n1: Any, n2: Any, text_: Any) -> Select[Any]:
        stmt = select(table.c.integration_id.label("integration_id"),
                      literal(kind, String(10)).label("kind"), key.label("key"),
                      n1.label("n1"), n2.label("n2"), text_.label("txt"))
        return stmt.where(table.c.integration_id == _ONE) if one else stmt

    none_key, none_int, none_text = (cast(null(), String(50)), cast(null(), Integer),
                                     cast(null(), String(255)))
    o, il, w, sm = (shop_integration_operations, shop_integration_labels,
                    shop_integration_warehouses, shop_status_map)
    branches = [
        row(o, "op", o.c.operation, cast(o.c.enabled, Integer), o.c.interval_minutes, none_text),
        row(il, "label", il.c.scope, il.c.label_id, none_int, labels.c.name).select_from(
            il.outerjoin(labels, labels.c.id == il.c.label_id)),
        row(w, "wh", none_key, w.c.warehouse_id, none_int, none_text),
        row(sm, "status", none_key, sm.c.erp_status_id, none_int, sm.c.shop_status),
    ]
    if with_options:
        t = sync_integration_options
        branches.append(row(t, "opt", t.c.name, none_int, none_int, t.c.value))
    if extra is not None:
        branches.append(extra)
    return union_all(*branches).subquery("children")


@cache
def _settings_statement(one: bool, with_options: bool) -> Select[Any]:
    """Built once per shape (statement construction is a good part of an idle run's CPU)."""
    return _settings_of(_child_rows(one, with_options), one)


def _settings_of(kids: Subquery, one: bool) -> Select[Any]:
    si = shop_integrations
    stmt = (select(si, kids.c.kind, kids.c.key, kids.c.n1, kids.c.n2, kids.c.txt)
            .select_from(si.outerjoin(kids, kids.c.integration_id == si.c.id))
            .order_by(si.c.id))
    return stmt.where(si.c.id == _ONE) if one else stmt


def settings_with(extra: Select[Any], with_options: bool) -> Select[Any]:
    """One integration's settings read (bind `b_integration_id`) with `extra` alongside: rows
    of the children's shape (CHILD_COLUMNS) that a caller reads — or writes, through a
    data-modifying CTE — in the same round trip. They come back only with the integration's
    own row, like its children. The caller builds this once and reads it with `read_with`."""
    return _settings_of(_child_rows(True, with_options, extra), True)


def read_with(
    conn: Connection, statement: Select[Any], params: dict[str, Any]
) -> tuple[IntegrationConfig | None, list[Row[Any]]]:
    """The integration of a `settings_with` statement (None if it does not exist) and the
    caller's own rows."""
    configs, extra = _parse(conn.execute(statement, params))
    return (configs[0] if configs else None), extra


@dataclass(slots=True)
class _Children:
    ops: dict[Operation, OperationSetting] = field(default_factory=dict)
    scoped: dict[str, dict[int, str]] = field(default_factory=dict)
    stores: list[int] = field(default_factory=list)
    status: dict[int, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, key: str | None, n1: int | None, n2: int | None,
            text_: str | None) -> None:
        if kind == "op" and key is not None:
            try:
                op = Operation(key)
            except ValueError:
                return  # an operation this version does not know is not ours to run
            interval = n2 if n2 is not None else DEFAULT_INTERVAL
            self.ops[op] = OperationSetting(op, bool(n1), interval)
        elif kind == "label" and key is not None and n1 is not None:
            # A label gone from `labels`: "#id".
            self.scoped.setdefault(key, {})[n1] = text_ if text_ is not None else f"#{n1}"
        elif kind == "wh" and n1 is not None:
            self.stores.append(n1)
        elif kind == "status" and n1 is not None and text_ is not None:
            self.status[n1] = text_.strip()
        elif kind == "opt" and key is not None and text_ is not None:
            self.options[key] = text_


def load_integrations(
    conn: Connection, integration_id: int | None = None
) -> list[IntegrationConfig]:
    """All integrations (or one) with their operations, labels, warehouses, status map and our
    options, in one statement."""
    one = integration_id is not None
    stmt = _settings_statement(one, options.has_table(conn))
    configs, _ = _parse(conn.execute(stmt, {"b_integration_id": integration_id} if one else {}))
    return configs


def _parse(result: Iterable[Row[Any]]) -> tuple[list[IntegrationConfig], list[Row[Any]]]:
    rows: dict[int, Row[Any]] = {}
    children: dict[int, _Children] = {}
    extra: list[Row[Any]] = []
    for row in result:
        if row.id not in rows:
            rows[row.id] = row
            children[row.id] = _Children()
        if row.kind in _KNOWN_KINDS:
            children[row.id].add(row.kind, row.key, row.n1, row.n2, row.txt)
        elif row.kind is not None:
            extra.append(row)
    return [_config(row, children[row.id]) for row in rows.values()], extra


def _config(row: Row[Any], kids: _Children) -> IntegrationConfig:
    # Read means in use: masked in every log line, message and history row from now on.
    register_secret(row.api_key)
    register_secret(row.api_secret)
    return IntegrationConfig(
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
        operations={op: kids.ops.get(op, OperationSetting(op, False, DEFAULT_INTERVAL))
                    for op in Operation},
        export_labels=kids.scoped.get("export_products", {}),
        stock_labels=kids.scoped.get("export_stock", {}),
        warehouses=tuple(sorted(kids.stores)),
        status_map=kids.status,
        options=kids.options,
    )


def load_integration(conn: Connection, integration_id: int) -> IntegrationConfig | None:
    found = load_integrations(conn, integration_id)
    return found[0] if found else None
