"""Domain types shared by operations, the ERP store and the shop connectors.

They are plain frozen dataclasses: connectors map platform payloads into them, the ERP store maps
rows into them, and operations move them between the two. Money and quantities are Decimal;
times are timezone-aware UTC datetimes (naive times exist only at an API or database edge).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

# The operations' names belong to the control DB and the message contract too (shared); the
# workers name them with the other domain types.
from shared.operation import Operation as Operation

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Product:
    """A product as exported to or imported from a shop. `shop_id` is the shop's own id."""

    sku: str
    name: str
    price_gross: Decimal
    description: str | None = None
    ean: str | None = None
    weight_kg: Decimal | None = None
    is_active: bool = True
    vat_rate: Decimal | None = None
    price_net: Decimal | None = None
    unit: str | None = None
    erp_id: int | None = None
    shop_id: str | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StockQuantity:
    """The saleable quantity of one product, as the shop should show it."""

    sku: str
    quantity: int
    erp_id: int | None = None
    shop_id: str | None = None


@dataclass(frozen=True, slots=True)
class Customer:
    email: str
    first_name: str = ""
    last_name: str = ""
    company: str | None = None
    tax_id: str | None = None
    phone: str | None = None
    street: str = ""
    city: str = ""
    postcode: str = ""
    country_code: str = "PL"


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    name: str
    quantity: Decimal
    unit_price_gross: Decimal
    vat_rate: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """An order as read from a shop. `status` is the platform's own status code."""

    external_id: str
    status: str
    currency: str
    total_gross: Decimal
    shipping_gross: Decimal
    is_paid: bool
    ordered_at: datetime
    modified_at: datetime
    customer: Customer
    lines: tuple[OrderLine, ...] = ()
    external_number: str | None = None
    payment_method: str | None = None
    shipping_method: str | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """An ERP order status to be sent to the shop (already mapped to the shop's status)."""

    order_id: int
    external_id: str
    shop_status: str
    erp_status_id: int


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The outcome of one item of a batch write: `ok` with the shop id, or an error message.

    `gone` says the shop no longer has the item the write addressed (a product deleted in the
    shop behind our back: 404 on update, "no such product" in a batch answer). The operation then
    drops its binding instead of failing it on every run forever.
    """

    key: str
    ok: bool
    shop_id: str | None = None
    error: str | None = None
    gone: bool = False


@dataclass(frozen=True, slots=True)
class ItemError:
    """A shop item that could not be parsed; the rest of the page is still usable.

    `key` is the item's shop id whenever the payload has one (it is what the retry set re-reads
    by id); only a payload with no readable id at all uses another label.
    """

    key: str
    message: str


@dataclass(slots=True)
class Page(Generic[T]):
    """One page read from a shop: the parsed items plus the items that failed to parse."""

    items: list[T] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)
