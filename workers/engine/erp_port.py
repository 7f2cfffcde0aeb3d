"""The ErpStore port: everything operations may ask of the tenant database, and nothing else.

Operations are written against this Protocol (and `workers.ports.ShopClient`), never against
SQL, so a real ILUO schema can be mapped later by writing another implementation; the SQL one
is `workers.engine.store.SqlErpStore`. Reads that stream the catalogue come in chunks of rows
(memory stays flat however large it is). Writes happen inside a unit of work: one database
transaction that also moves cursors and records what was sent, and that commits only while
the run still holds its lease.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from shared.erp.retry_set import Failure, Summary
from workers.domain import Customer, Order, OrderLine, Product


class Change(str, enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class ExportCandidate:
    """A product export_products looks at: in scope now, or sent before (may need deactivating).

    `product` carries erp_id and, when bound, shop_id; `sent` is the last-sent fingerprint.
    """

    product: Product
    in_scope: bool
    sent: str | None


@dataclass(frozen=True, slots=True)
class StockCandidate:
    """A product whose stock may go to the shop: Σ(quantity − reserved) over the warehouses."""

    erp_id: int
    sku: str
    available: Decimal
    shop_id: str | None
    sent: str | None


@dataclass(frozen=True, slots=True)
class OrderToSend:
    """An order of this integration whose ERP status is not the one last sent."""

    order_id: int
    external_id: str
    status_id: int


@dataclass(frozen=True, slots=True)
class OrderState:
    """What an import needs to know about an order already in the ERP."""

    order_id: int
    status_id: int
    is_paid: bool


class ErpUnit(Protocol):
    """One transaction. Leaving the `with` block commits it (fenced by the lease), an exception
    rolls it back; a dry run always rolls back."""

    def savepoint(self) -> AbstractContextManager[object]:
        """Isolate one item: an exception inside rolls back that item only, then propagates."""
        ...

    # cursors, bindings, last-sent
    def move_cursor(self, name: str, value: datetime) -> None: ...
    def bind(self, kind: str, erp_id: int, shop_id: str) -> str:
        """Insert-or-skip a binding; answers bindings.Bound (`new`, `same` or `conflict`)."""
        ...
    def bind_many(self, kind: str, pairs: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
        """Bind (erp_id, shop_id) pairs; answers those that clash with existing bindings."""
        ...
    def unbind(self, kind: str, erp_id: int) -> None: ...
    def record_sent(self, kind: str, sent: Mapping[int, str]) -> None: ...
    def forget_gone_products(self, pairs: Sequence[tuple[int, str]]) -> list[int]:
        """Products deleted in the shop: drop each (erp_id, shop_id) binding that still names
        that shop id, and the product's last-sent product and stock values; answers the ERP
        ids unbound."""
        ...

    # the retry set (shared.erp.retry_set), written with the page that failed or imported items
    def keep_failed(self, operation: str, failures: Sequence[Failure]) -> None: ...
    def resolve_kept(self, operation: str, shop_ids: Collection[str]) -> int:
        """Forget kept items that are now imported; answers how many there were."""
        ...
    def kept_ids(self, operation: str, shop_ids: Collection[str]) -> set[str]: ...

    # orders
    def product_ids_by_sku(self, skus: Collection[str]) -> dict[str, int]: ...
    def find_customers(self, emails: Collection[str]) -> dict[str, int]:
        """Lower-cased e-mail → customer id (case-insensitive match)."""
        ...
    def find_customer_by_address(self, customer: Customer) -> int | None:
        """A customer without e-mail, matched by name and address (case-insensitive)."""
        ...
    def add_customer(self, customer: Customer) -> int: ...
    def add_order(
        self, order: Order, *, number: str, customer_id: int, status_id: int
    ) -> int | None:
        """The new order's id, or None when (integration, external_id) is already there."""
        ...

    def add_order_lines(
        self, order_id: int, lines: Sequence[tuple[OrderLine, int | None]]
    ) -> None: ...
    def order_state(self, external_id: str) -> OrderState | None: ...
    def known_order_ids(self, external_ids: Collection[str]) -> set[str]:
        """Which of these shop order ids this integration's ERP orders already hold."""
        ...
    def update_order(self, order_id: int, *, is_paid: bool | None = None,
                     status_id: int | None = None) -> None: ...

    # products
    def upsert_product(self, product: Product) -> tuple[Change, int]:
        """Create or update the ERP product with this SKU; `updated_at` moves only on change."""
        ...


class ErpStore(Protocol):
    integration_id: int

    def unit(self) -> AbstractContextManager[ErpUnit]: ...
    def read_cursor(self, name: str) -> datetime | None: ...
    def due_retries(self, operation: str, *, limit: int) -> list[str]:
        """Shop ids of kept items due for a re-read now, longest-waiting first."""
        ...
    def retry_summary(self) -> Summary: ...
    def order_status_ids(self) -> dict[str, int]:
        """ERP status code → id."""
        ...
    def count_export_candidates(self, label_ids: Collection[int]) -> int: ...
    def count_leaving_scope(self, label_ids: Collection[int]) -> int:
        """Bound, sent before and out of scope now (an upper bound on deactivations)."""
        ...
    def count_bound_products(self) -> int: ...
    def iter_export_candidates(
        self, label_ids: Collection[int], *, chunk: int
    ) -> Iterator[list[ExportCandidate]]: ...
    def iter_stock_candidates(
        self, label_ids: Collection[int], warehouse_ids: Collection[int], *, bound_only: bool,
        chunk: int,
    ) -> Iterator[list[StockCandidate]]: ...
    def iter_orders_to_send(
        self, status_ids: Collection[int], *, chunk: int
    ) -> Iterator[list[OrderToSend]]: ...
