"""SqlErpStore: the ErpStore port over SQLAlchemy Core, for SQLite, PostgreSQL, MariaDB/MySQL
and SQL Server.

Every query on the ERP's tables lives here (the sync_* ones in their engine modules, which
this store delegates to), so mapping a real ILUO schema later means changing this one file.
No SQL is built from strings; the few statements that differ per dialect sit behind
`workers.engine.dialect`. Streaming reads use keyset paging on the primary key in short
transactions, so no connection stays open while the shop is being called.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Numeric,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from shared.db import autocommit
from shared.erp import retry_set
from shared.erp.retry_set import Failure, Summary
from shared.erp.schema import (
    customers,
    order_lines,
    order_statuses,
    orders,
    product_labels,
    products,
    stock_levels,
)
from shared.erp.sync_tables import sync_bindings, sync_sent
from workers.domain import Customer, Order, OrderLine, Product
from workers.engine import bindings, fingerprints, watermarks
from workers.engine.clock import to_db, utc_now
from workers.engine.dialect import insert_returning_id_or_skip
from workers.engine.erp_port import (
    Change,
    ExportCandidate,
    OrderState,
    OrderToSend,
    StockCandidate,
)

CENT = Decimal("0.01")
MILLI = Decimal("0.001")
#: VAT rate of a product the ERP does not know yet (CONTRACT §2, import_products).
DEFAULT_VAT = Decimal("23.00")
IN_CHUNK = fingerprints.IN_CHUNK

Fence = Callable[[Connection], None]


def order_number(integration_id: int, external_id: str) -> str:
    """The ERP's number for an imported order: deterministic (a retry or a second worker
    computes the same one), unique per integration and external id, at most 40 characters."""
    number = f"WWW/{integration_id}/{external_id}"
    if len(number) <= 40:
        return number
    digest = hashlib.sha256(external_id.encode()).hexdigest()[:20]
    return f"WWW/{integration_id}/#{digest}"


def net_from_gross(gross: Decimal, vat_rate: Decimal) -> Decimal:
    return (gross * 100 / (100 + vat_rate)).quantize(CENT, ROUND_HALF_UP)


def _fit(text: str | None, size: int) -> str | None:
    return None if text is None else text[:size]


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


class SqlErpStore:
    """ErpStore for one integration of one tenant database."""

    def __init__(
        self, engine: Engine, integration_id: int, *, fence: Fence | None = None,
        dry_run: bool = False,
    ) -> None:
        self.engine = engine
        self.integration_id = integration_id
        self._fence = fence
        self._dry_run = dry_run

    # -- units of work --------------------------------------------------------------------------

    @contextmanager
    def unit(self) -> Iterator[SqlErpUnit]:
        with self.engine.connect() as conn:
            trans = conn.begin()
            try:
                yield SqlErpUnit(conn, self.integration_id)
                if self._dry_run:
                    trans.rollback()  # a dry run computes everything and keeps nothing
                    return
                if self._fence is not None:
                    self._fence(conn)  # still our lease? (also renews it)
                trans.commit()
            finally:
                if trans.is_active:
                    trans.rollback()

    # -- reads ----------------------------------------------------------------------------------

    def read_cursor(self, name: str) -> datetime | None:
        with autocommit(self.engine) as conn:
            return watermarks.read(conn, self.integration_id, name)

    def due_retries(self, operation: str, *, limit: int) -> list[str]:
        with autocommit(self.engine) as conn:
            return retry_set.due(conn, self.integration_id, operation, to_db(utc_now()),
                                 limit=limit)

    def retry_summary(self) -> Summary:
        with autocommit(self.engine) as conn:
            return retry_set.summary(conn, self.integration_id)

    def order_status_ids(self) -> dict[str, int]:
        with autocommit(self.engine) as conn:
            rows = conn.execute(select(order_statuses.c.code, order_statuses.c.id))
            return {row.code.strip(): row.id for row in rows}

    def count_export_candidates(self, label_ids: Collection[int]) -> int:
        with autocommit(self.engine) as conn:
            return int(conn.execute(_count_export(bool(label_ids)),
                                    self._params(label_ids)).scalar_one())

    def count_leaving_scope(self, label_ids: Collection[int]) -> int:
        """Bound products sent before that are out of scope now: the most an export run
        could deactivate (those already deactivated included)."""
        with autocommit(self.engine) as conn:
            return int(conn.execute(_count_leaving(bool(label_ids)),
                                    self._params(label_ids)).scalar_one())

    def count_bound_products(self) -> int:
        with autocommit(self.engine) as conn:
            return int(conn.execute(_count_bound(), self._params(())).scalar_one())

    def iter_export_candidates(
        self, label_ids: Collection[int], *, chunk: int
    ) -> Iterator[list[ExportCandidate]]:
        stmt, params = _export_chunk(bool(label_ids)), self._params(label_ids, b_chunk=chunk)
        last = 0
        while True:
            with autocommit(self.engine) as conn:
                rows = conn.execute(stmt, dict(params, b_last=last)).all()
            if rows:
                last = rows[-1].id
                yield [ExportCandidate(product=_product(row), in_scope=bool(row.in_scope),
                                       sent=row.fingerprint) for row in rows]
            if len(rows) < chunk:  # a short chunk is the last: no empty read to learn it
                return

    def iter_stock_candidates(
        self, label_ids: Collection[int], warehouse_ids: Collection[int], *, bound_only: bool,
        chunk: int,
    ) -> Iterator[list[StockCandidate]]:
        stmt = _stock_chunk(bool(label_ids), bound_only)
        params = self._params(label_ids, b_chunk=chunk)
        last = 0
        while True:
            with autocommit(self.engine) as conn:
                rows = conn.execute(stmt, dict(params, b_last=last)).all()
                sums = self._available(conn, [row.id for row in rows], warehouse_ids)
            if rows:
                last = rows[-1].id
                yield [StockCandidate(erp_id=row.id, sku=row.sku,
                                      available=sums.get(row.id, Decimal(0)),
                                      shop_id=row.shop_id, sent=row.fingerprint)
                       for row in rows]
            if len(rows) < chunk:
                return

    def _params(self, label_ids: Collection[int], **more: object) -> dict[str, object]:
        return dict(b_integration_id=self.integration_id, b_labels=sorted(label_ids), **more)

    @staticmethod
    def _available(
        conn: Connection, product_ids: Sequence[int], warehouse_ids: Collection[int]
    ) -> dict[int, Decimal]:
        """Σ(quantity − reserved) per product over the warehouses (all when none are given)."""
        stmt = _available_stmt(bool(warehouse_ids))
        warehouses = sorted(warehouse_ids)
        sums: dict[int, Decimal] = {}
        for start in range(0, len(product_ids), IN_CHUNK):
            chunk = product_ids[start:start + IN_CHUNK]
            for row in conn.execute(stmt, dict(b_products=chunk, b_warehouses=warehouses)):
                sums[row.product_id] = Decimal(row.available or 0)
        return sums

    def iter_orders_to_send(
        self, status_ids: Collection[int], *, chunk: int
    ) -> Iterator[list[OrderToSend]]:
        if not status_ids:
            return
        params = dict(b_integration_id=self.integration_id, b_statuses=sorted(status_ids),
                      b_chunk=chunk)
        last = 0
        while True:
            with autocommit(self.engine) as conn:
                rows = conn.execute(_orders_to_send(), dict(params, b_last=last)).all()
            if not rows:
                return
            last = rows[-1].id
            yield [OrderToSend(row.id, row.external_id, row.status_id) for row in rows]


@cache
def _orders_to_send() -> Select[Any]:
    """The next chunk of orders whose status differs from the one last sent, built once (an
    idle status run is this one statement)."""
    o = orders.c
    s = sync_sent.alias(f"s_{fingerprints.ORDER_STATUS}")
    integration = bindparam("b_integration_id", type_=Integer())
    on = and_(s.c.integration_id == integration, s.c.kind == fingerprints.ORDER_STATUS,
              s.c.erp_id == o.id)
    # The order_status fingerprint is the ERP status id as text, so the database itself
    # picks the orders whose status is not the one last sent.
    changed = or_(s.c.fingerprint.is_(None), s.c.fingerprint != cast(o.status_id, String(20)))
    return (select(o.id, o.external_id, o.status_id)
            .select_from(orders.outerjoin(s, on))
            .where(o.integration_id == integration,
                   o.status_id.in_(bindparam("b_statuses", expanding=True)), changed,
                   o.id > bindparam("b_last", type_=Integer()))
            .order_by(o.id).limit(bindparam("b_chunk", type_=Integer())))


# The export and stock reads, built once per shape with bind parameters: building them (the
# aliases, their column collections, the cache key) was a good share of an idle run's CPU.
_INTEGRATION = bindparam("b_integration_id", type_=Integer())
_LAST = bindparam("b_last", type_=Integer())
_CHUNK = bindparam("b_chunk", type_=Integer())


def _binding() -> tuple[Any, ColumnElement[bool]]:
    b = sync_bindings.alias("b")
    return b, and_(b.c.integration_id == _INTEGRATION, b.c.kind == bindings.PRODUCT,
                   b.c.erp_id == products.c.id)


def _sent(kind: str) -> tuple[Any, ColumnElement[bool]]:
    s = sync_sent.alias(f"s_{kind}")
    return s, and_(s.c.integration_id == _INTEGRATION, s.c.kind == kind,
                   s.c.erp_id == products.c.id)


def _labelled() -> ColumnElement[bool]:
    """The product carries one of the labels (`b_labels`)."""
    return exists().where(product_labels.c.product_id == products.c.id,
                          product_labels.c.label_id.in_(bindparam("b_labels", expanding=True)))


@cache
def _export_parts(labelled: bool) -> tuple[Any, Any, ColumnElement[bool], Any, Any]:
    """(binding alias, sent alias, scope, the joined tables, which rows are candidates)."""
    b, b_on = _binding()
    s, s_on = _sent(fingerprints.PRODUCT)
    active = products.c.is_active == true()
    scope = and_(active, _labelled()) if labelled else active
    # Scope, or sent before: a product that left the scope is deactivated in the shop once.
    where = or_(scope, s.c.erp_id.is_not(None))
    return b, s, scope, products.outerjoin(b, b_on).outerjoin(s, s_on), where


@cache
def _count_export(labelled: bool) -> Select[Any]:
    _, _, _, joined, where = _export_parts(labelled)
    return select(func.count()).select_from(joined).where(where)


@cache
def _count_leaving(labelled: bool) -> Select[Any]:
    b, s, scope, joined, _ = _export_parts(labelled)
    return (select(func.count()).select_from(joined)
            .where(~scope, b.c.shop_id.is_not(None), s.c.erp_id.is_not(None)))


@cache
def _count_bound() -> Select[Any]:
    b = sync_bindings.c
    return (select(func.count()).select_from(sync_bindings)
            .where(b.integration_id == _INTEGRATION, b.kind == bindings.PRODUCT))


@cache
def _export_chunk(labelled: bool) -> Select[Any]:
    b, s, scope, joined, where = _export_parts(labelled)
    p = products.c
    columns = (p.id, p.sku, p.ean, p.name, p.description, p.unit, p.vat_rate, p.price_net,
               p.price_gross, p.weight_kg, p.is_active, p.updated_at)
    return (select(*columns, b.c.shop_id, s.c.fingerprint,
                   case((scope, 1), else_=0).label("in_scope"))
            .select_from(joined).where(where, p.id > _LAST).order_by(p.id).limit(_CHUNK))


@cache
def _stock_chunk(labelled: bool, bound_only: bool) -> Select[Any]:
    b, b_on = _binding()
    s, s_on = _sent(fingerprints.STOCK)
    p = products.c
    stmt = (select(p.id, p.sku, b.c.shop_id, s.c.fingerprint)
            .select_from(products.outerjoin(b, b_on).outerjoin(s, s_on))
            .where(p.id > _LAST).order_by(p.id).limit(_CHUNK))
    if labelled:
        stmt = stmt.where(_labelled())
    if bound_only:
        stmt = stmt.where(b.c.shop_id.is_not(None))
    return stmt


@cache
def _available_stmt(by_warehouse: bool) -> Select[Any]:
    sl = stock_levels.c
    total = func.sum(sl.quantity - sl.reserved, type_=Numeric(16, 3))
    stmt = (select(sl.product_id, total.label("available"))
            .where(sl.product_id.in_(bindparam("b_products", expanding=True)))
            .group_by(sl.product_id))
    if by_warehouse:
        stmt = stmt.where(sl.warehouse_id.in_(bindparam("b_warehouses", expanding=True)))
    return stmt


def _product(row: Any) -> Product:
    return Product(
        erp_id=row.id, sku=row.sku, ean=row.ean, name=row.name, description=row.description,
        unit=row.unit, vat_rate=row.vat_rate, price_net=row.price_net,
        price_gross=row.price_gross, weight_kg=row.weight_kg, is_active=bool(row.is_active),
        shop_id=row.shop_id, modified_at=None,
    )


class SqlErpUnit:
    """ErpUnit over one open transaction."""

    def __init__(self, conn: Connection, integration_id: int) -> None:
        self.conn = conn
        self.integration_id = integration_id

    def savepoint(self) -> AbstractContextManager[object]:
        return self.conn.begin_nested()

    # -- cursors, bindings, last-sent -----------------------------------------------------------

    def move_cursor(self, name: str, value: datetime) -> None:
        watermarks.write(self.conn, self.integration_id, name, value)

    def bind(self, kind: str, erp_id: int, shop_id: str) -> str:
        return bindings.bind(self.conn, self.integration_id, kind, erp_id, shop_id).value

    def bind_many(self, kind: str, pairs: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
        return bindings.bind_many(self.conn, self.integration_id, kind, pairs)

    def unbind(self, kind: str, erp_id: int) -> None:
        bindings.unbind(self.conn, self.integration_id, kind, erp_id)

    def record_sent(self, kind: str, sent: Mapping[int, str]) -> None:
        fingerprints.record(self.conn, self.integration_id, kind, sent)

    def forget_gone_products(self, pairs: Sequence[tuple[int, str]]) -> list[int]:
        dropped = bindings.drop_gone(self.conn, self.integration_id, bindings.PRODUCT, pairs)
        fingerprints.forget(self.conn, self.integration_id,
                            (fingerprints.PRODUCT, fingerprints.STOCK), dropped)
        return dropped

    # -- the retry set --------------------------------------------------------------------------

    def keep_failed(self, operation: str, failures: Sequence[Failure]) -> None:
        retry_set.keep(self.conn, self.integration_id, operation, failures, to_db(utc_now()))

    def resolve_kept(self, operation: str, shop_ids: Collection[str]) -> int:
        return retry_set.resolve(self.conn, self.integration_id, operation, shop_ids)

    def kept_ids(self, operation: str, shop_ids: Collection[str]) -> set[str]:
        return retry_set.kept_ids(self.conn, self.integration_id, operation, shop_ids)

    # -- orders ---------------------------------------------------------------------------------

    def product_ids_by_sku(self, skus: Collection[str]) -> dict[str, int]:
        wanted = sorted({s for s in skus if s})
        found: dict[str, int] = {}
        for start in range(0, len(wanted), IN_CHUNK):
            rows = self.conn.execute(select(products.c.sku, products.c.id)
                                     .where(products.c.sku.in_(wanted[start:start + IN_CHUNK])))
            found.update({row.sku: row.id for row in rows})
        return found

    def find_customers(self, emails: Collection[str]) -> dict[str, int]:
        """Lower-cased e-mail → customer id, matched case-insensitively (lowest id wins)."""
        wanted = sorted({e.strip().lower() for e in emails if e and e.strip()})
        found: dict[str, int] = {}
        email = func.lower(customers.c.email)
        for start in range(0, len(wanted), IN_CHUNK):
            rows = self.conn.execute(
                select(email.label("email"), customers.c.id)
                .where(email.in_(wanted[start:start + IN_CHUNK])).order_by(customers.c.id)
            )
            for row in rows:
                found.setdefault(row.email, row.id)
        return found

    def find_customer_by_address(self, customer: Customer) -> int | None:
        c = customers.c
        same = [func.lower(column) == value.strip().lower() for column, value in (
            (c.first_name, customer.first_name), (c.last_name, customer.last_name),
            (c.street, customer.street), (c.city, customer.city),
            (c.postcode, customer.postcode),
        )]
        no_email = or_(c.email.is_(None), c.email == "")
        found: int | None = self.conn.execute(
            select(c.id).where(no_email, *same).order_by(c.id).limit(1)
        ).scalar()
        return found

    def add_customer(self, customer: Customer) -> int:
        now = to_db(utc_now())
        result = self.conn.execute(insert(customers).values(
            email=_fit(customer.email.strip(), 255), first_name=_fit(customer.first_name, 100),
            last_name=_fit(customer.last_name, 100), company=_fit(customer.company, 255),
            tax_id=_fit(customer.tax_id, 20), phone=_fit(customer.phone, 40),
            street=_fit(customer.street, 255), city=_fit(customer.city, 100),
            postcode=_fit(customer.postcode, 20),
            country_code=customer.country_code,
            created_at=now, updated_at=now,
        ))
        key = result.inserted_primary_key
        assert key is not None  # a one-row INSERT has one
        return int(key[0])

    def add_order(
        self, order: Order, *, number: str, customer_id: int, status_id: int
    ) -> int | None:
        now = to_db(utc_now())
        row = dict(
            number=number, integration_id=self.integration_id, external_id=order.external_id,
            external_number=_fit(order.external_number, 64), customer_id=customer_id,
            status_id=status_id, currency=order.currency.upper(),
            total_gross=_money(order.total_gross), shipping_gross=_money(order.shipping_gross),
            payment_method=_fit(order.payment_method, 100),
            shipping_method=_fit(order.shipping_method, 100), is_paid=order.is_paid,
            ordered_at=to_db(order.ordered_at), created_at=now, updated_at=now,
            notes=order.notes,
        )
        return insert_returning_id_or_skip(self.conn, orders, row,
                                           conflict=("integration_id", "external_id"))

    def add_order_lines(
        self, order_id: int, lines: Sequence[tuple[OrderLine, int | None]]
    ) -> None:
        if not lines:
            return
        self.conn.execute(insert(order_lines), [
            dict(order_id=order_id, line_no=n, product_id=product_id,
                 sku=_fit(line.sku, 64) or "", name=_fit(line.name, 255) or "",
                 quantity=line.quantity.quantize(MILLI, ROUND_HALF_UP),
                 unit_price_gross=_money(line.unit_price_gross),
                 vat_rate=None if line.vat_rate is None else _money(line.vat_rate))
            for n, (line, product_id) in enumerate(lines, start=1)
        ])

    def order_state(self, external_id: str) -> OrderState | None:
        row = self.conn.execute(
            select(orders.c.id, orders.c.status_id, orders.c.is_paid).where(
                orders.c.integration_id == self.integration_id,
                orders.c.external_id == external_id,
            )
        ).first()
        return None if row is None else OrderState(row.id, row.status_id, bool(row.is_paid))

    def known_order_ids(self, external_ids: Collection[str]) -> set[str]:
        wanted = sorted({e for e in external_ids if e})
        found: set[str] = set()
        o = orders.c
        for start in range(0, len(wanted), IN_CHUNK):
            found.update(self.conn.execute(select(o.external_id).where(
                o.integration_id == self.integration_id,
                o.external_id.in_(wanted[start:start + IN_CHUNK]),
            )).scalars())
        return found

    def update_order(
        self, order_id: int, *, is_paid: bool | None = None, status_id: int | None = None
    ) -> None:
        values: dict[str, Any] = {}
        if is_paid is not None:
            values["is_paid"] = is_paid
        if status_id is not None:
            values["status_id"] = status_id
        if values:
            values["updated_at"] = to_db(utc_now())
            self.conn.execute(update(orders).where(orders.c.id == order_id).values(**values))

    # -- products -------------------------------------------------------------------------------

    def upsert_product(self, product: Product) -> tuple[Change, int]:
        """By SKU: insert (the unique SKU decides a race), else update what differs."""
        existing = self._product_by_sku(product.sku)
        if existing is None:
            vat = product.vat_rate if product.vat_rate is not None else DEFAULT_VAT
            row = dict(sku=product.sku, unit=_fit(product.unit, 10) or "szt",
                       vat_rate=_money(vat), updated_at=to_db(utc_now()),
                       **_imported_fields(product, vat))
            new_id = insert_returning_id_or_skip(self.conn, products, row, conflict=("sku",))
            if new_id is not None:
                return Change.CREATED, new_id
            existing = self._product_by_sku(product.sku)
            assert existing is not None  # the conflict was on this SKU
        wanted = _imported_fields(product, Decimal(existing.vat_rate))
        # A field the shop leaves empty is one it does not know (Vendure has no EAN or weight):
        # never wipe what the ERP holds.
        wanted = {k: v for k, v in wanted.items() if not (k in _KEEP_WHEN_EMPTY and v is None)}
        changed = {k: v for k, v in wanted.items() if not _same(getattr(existing, k), v)}
        if not changed:
            return Change.UNCHANGED, existing.id
        self.conn.execute(update(products).where(products.c.id == existing.id)
                          .values(**changed, updated_at=to_db(utc_now())))
        return Change.UPDATED, existing.id

    def _product_by_sku(self, sku: str) -> Any:
        return self.conn.execute(select(products).where(products.c.sku == sku)).first()


_KEEP_WHEN_EMPTY = frozenset({"description", "ean", "weight_kg"})


def _imported_fields(product: Product, vat_rate: Decimal) -> dict[str, Any]:
    """The ERP columns an imported shop product sets (the price net from the ERP's VAT rate)."""
    return dict(
        name=_fit(product.name, 255),
        description=product.description or None,
        price_gross=_money(product.price_gross),
        price_net=net_from_gross(product.price_gross, vat_rate),
        ean=product.ean or None,
        weight_kg=None if product.weight_kg is None else product.weight_kg.quantize(MILLI),
        is_active=product.is_active,
    )


def _same(old: Any, new: Any) -> bool:
    if isinstance(new, Decimal) or isinstance(old, Decimal):
        return old is not None and new is not None and Decimal(old) == Decimal(new)
    if isinstance(new, bool):
        return bool(old) == new
    return (old or None) == (new or None)
