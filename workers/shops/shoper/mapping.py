"""Shoper REST payloads ⇄ domain types (the OCA "mapper").

Shapes follow Shoper's OpenAPI schema as generated into mkasprz/shoper-sdk-php
(`src/Raw/Types/Order.php`, `OrderProduct.php`, `Product.php`, `ProductStock.php`, `Status.php`),
the resources of dreamcommerce/shop-appstore-lib and the live transcripts of
openlinker-project/openlinker "Spike #3638". Trimmed copies live in `tests/fixtures/shoper/`.

Quirks handled here:
- numbers arrive as strings (`"sum": "999.00"`, `"count": "36"`, ids too) and stay exact;
- dates are naive strings in the shop's own zone (`"2024-01-15 12:34:56"`): read with the
  integration's `shop_timezone`, taking the earlier reading of an ambiguous autumn hour;
- texts live in `translations` keyed by locale (`pl_PL`);
- flags are `"0"`/`"1"` strings in some places and JSON booleans in others.

Lenient where the ERP row stays right (issue 11): a line without name or code, a guest order
without e-mail or address, an odd country code, a product without name or SKU pass through
with "" and the engine decides (fills in, warns, lists as "needs attention"). Missing is not
malformed: a field of the wrong type (a list where text belongs) is still a `MappingError`,
never a guessed value. A `MappingError`
(an item error for that one order or product, kept in the retry set) is raised only where
the ERP row would be wrong: no order id, no readable date, money or quantity that cannot be
read, a currency id the shop does not list, no base stock row (no price) — see
docs/fidelity/shoper.md "Refusals".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from workers.domain import Customer, Order, OrderLine, Product, StatusChange, StockQuantity
from workers.shops.numbers import plausible

Json = dict[str, Any]
CENT = Decimal("0.01")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
#: The locale whose texts we read and write.
LANGUAGE = "pl_PL"
#: Status `type` values that mean "still open" (1 new, 2 opened; 3 closed, 4 not completed).
OPEN_STATUS_TYPES = frozenset({"1", "2"})
_TRUE = frozenset({"1", "true", "yes"})


class MappingError(ValueError):
    """One payload item does not have the documented shape; the message says what is wrong."""


# -- primitive readers ------------------------------------------------------------------------


def text(payload: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = payload.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise MappingError(f"missing {key}")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MappingError(f"{key} is not a string: {value!r:.60}")
    return str(value).strip()


def optional_text(payload: Mapping[str, Any], key: str) -> str | None:
    return text(payload, key) or None


def decimal(value: Any, what: str) -> Decimal:
    """Shoper's string numbers ("12.30", also "12,30" from hand-edited fields) as Decimal."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MappingError(f"{what} is not a number: {value!r:.60}")
    raw = value.strip().replace(",", ".") if isinstance(value, str) else repr(value)
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise MappingError(f"{what} is not a number: {value!r:.60}") from None
    if not plausible(number):  # NaN, Infinity, 1e30: see workers.shops.numbers
        raise MappingError(f"{what} is not a usable number: {value!r:.60}")
    return number


def money(payload: Mapping[str, Any], key: str, *, default: Decimal | None = None) -> Decimal:
    value = payload.get(key)
    if value in (None, ""):
        if default is None:
            raise MappingError(f"missing {key}")
        return default
    return decimal(value, key)


def flag(value: Any) -> bool:
    """`true`, `1`, `"1"`, `"true"` → True; anything else False."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def shop_id_number(value: Any, what: str) -> int:
    """A Shoper id: a positive integer, usually sent as its digits in a string."""
    if isinstance(value, bool):
        raise MappingError(f"{what} is not an id: {value!r}")
    digits = str(value).strip() if isinstance(value, str | int) else ""
    if not _ascii_digits(digits) or int(digits) <= 0:
        raise MappingError(f"{what} is not an id: {value!r:.40}")
    return int(digits)


def _ascii_digits(text: str) -> bool:
    """Digits int() accepts: "²" and "١" pass str.isdigit() but not int()."""
    return text.isascii() and text.isdigit()


def count_number(value: Any) -> int:
    """`count` is a string, `pages`/`page` integers; accept either for all three."""
    if isinstance(value, bool):
        raise MappingError(f"not a count: {value!r}")
    digits = str(value).strip() if isinstance(value, str | int) else ""
    if not _ascii_digits(digits):
        raise MappingError(f"not a count: {value!r:.40}")
    return int(digits)


# -- dates: naive local strings ⇄ aware UTC ---------------------------------------------------


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Europe/Warsaw")
    except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise MappingError(f"unknown shop time zone {name!r}") from exc


def to_local(moment: datetime, zone: ZoneInfo) -> str:
    """Aware UTC → the shop's naive local text (the API's filter format)."""
    if moment.tzinfo is None:
        raise ValueError("datetimes passed to a ShopClient must be timezone-aware")
    return moment.astimezone(zone).replace(tzinfo=None, microsecond=0).strftime(DATE_FORMAT)


def from_local(value: str, zone: ZoneInfo, what: str = "date") -> datetime:
    """The shop's naive local text → aware UTC. An ambiguous autumn time is read as its earlier
    occurrence, so a time we derive a cursor from is never later than the truth."""
    try:
        naive = datetime.strptime(value.strip()[:19], DATE_FORMAT)
        return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    except (ValueError, AttributeError, OverflowError):  # year 1 has no UTC reading
        raise MappingError(f"{what} is not a date: {value!r:.40}") from None


def is_ambiguous(local: str, zone: ZoneInfo) -> bool:
    """True when this wall-clock time happens twice (the hour repeated when clocks go back)."""
    naive = datetime.strptime(local, DATE_FORMAT)
    return (naive.replace(tzinfo=zone, fold=0).utcoffset()
            != naive.replace(tzinfo=zone, fold=1).utcoffset())


def local_window(since: datetime, until: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """[since, until] as inclusive local bounds. Where a bound falls into a repeated hour the
    window is widened by that hour, so rows stamped in either pass are inside (re-reads are
    harmless; a missed row is not)."""
    low, high = to_local(since, zone), to_local(until, zone)
    if is_ambiguous(low, zone):
        low = _shift(low, -1)
    if is_ambiguous(high, zone):
        high = _shift(high, +1)
    return low, high


def _shift(local: str, hours: int) -> str:
    return (datetime.strptime(local, DATE_FORMAT) + timedelta(hours=hours)).strftime(DATE_FORMAT)


# -- list answers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListPage:
    """`{"count":"254","pages":6,"page":1,"list":[…]}`."""

    count: int
    pages: int
    page: int
    rows: list[Any] = field(default_factory=list)


def parse_list(data: Any, what: str) -> ListPage:
    if not isinstance(data, Mapping) or not isinstance(data.get("list"), list):
        raise MappingError(f"{what} answer is not a list page but {type(data).__name__}")
    try:
        return ListPage(count=count_number(data.get("count", 0)),
                        pages=count_number(data.get("pages", 0)),
                        page=count_number(data.get("page", 1)),
                        rows=list(data["list"]))
    except MappingError as exc:
        raise MappingError(f"{what} page header: {exc}") from None


def row_key(row: Any, *fields: str) -> tuple[Any, ...]:
    if not isinstance(row, Mapping):
        return (repr(row)[:40],)
    return tuple(str(row.get(f, "")) for f in fields)


def item_key(payload: Any, id_field: str) -> str:
    if isinstance(payload, Mapping) and payload.get(id_field) not in (None, ""):
        return str(payload[id_field])
    return "?"


# -- reference data ---------------------------------------------------------------------------


@dataclass(slots=True)
class References:
    """Small dictionaries read once per client: ids in orders → what the ERP wants."""

    currencies: dict[str, str] = field(default_factory=dict)  # currency_id → "PLN"
    payments: dict[str, str] = field(default_factory=dict)  # payment_id → title
    shippings: dict[str, str] = field(default_factory=dict)  # shipping_id → name


def translated(payload: Mapping[str, Any], key: str, language: str = LANGUAGE) -> str:
    """`translations[language][key]`, else the first translation that has it, else `key`."""
    translations = payload.get("translations")
    if isinstance(translations, Mapping):
        preferred = translations.get(language)
        candidates = [preferred] + [v for k, v in translations.items() if k != language]
        for entry in candidates:
            value = entry.get(key) if isinstance(entry, Mapping) else None
            if isinstance(value, str) and value.strip():
                return value.strip()
    value = payload.get(key)
    return value.strip() if isinstance(value, str) else ""


def currency_codes(rows: Sequence[Any]) -> dict[str, str]:
    """`currencies` rows → {currency_id: "PLN"} (`name` is the ISO code, 3 characters)."""
    codes: dict[str, str] = {}
    for row in rows:
        if isinstance(row, Mapping) and row.get("currency_id") not in (None, ""):
            name = str(row.get("name") or "").strip().upper()
            if len(name) == 3 and name.isalpha():
                codes[str(row["currency_id"])] = name
    return codes


def titles(rows: Sequence[Any], id_field: str) -> dict[str, str]:
    """payments/shippings rows → {id: display name} (translated `title`/`name`, else `name`)."""
    found: dict[str, str] = {}
    for row in rows:
        if isinstance(row, Mapping) and row.get(id_field) not in (None, ""):
            title = translated(row, "title") or translated(row, "name")
            if title:
                found[str(row[id_field])] = title
    return found


def open_status_ids(rows: Sequence[Any]) -> list[int]:
    """`statuses` rows whose `type` is new (1) or opened (2)."""
    ids = []
    for row in rows:
        if isinstance(row, Mapping) and str(row.get("type", "")).strip() in OPEN_STATUS_TYPES:
            try:
                ids.append(shop_id_number(row.get("status_id"), "status_id"))
            except MappingError:
                continue
    return sorted(set(ids))


def tax_ids(rows: Sequence[Any]) -> dict[Decimal, int]:
    """`taxes` rows → {rate: tax_id}; the first tax of a rate wins (23 % has one; 0 % several)."""
    found: dict[Decimal, int] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        try:
            rate = decimal(row.get("value"), "value").quantize(CENT)
            found.setdefault(rate, shop_id_number(row.get("tax_id"), "tax_id"))
        except MappingError:
            continue
    return found


# -- orders -----------------------------------------------------------------------------------


def status_date(row: Any) -> str | None:
    return date_text(row, "status_date")


def order_date(row: Any) -> str | None:
    return date_text(row, "date")


def date_text(row: Any, key: str) -> str | None:
    """A date field as its 19 characters, None when absent or MySQL's zero date."""
    value = row.get(key) if isinstance(row, Mapping) else None
    if not isinstance(value, str) or not value.strip() or value.startswith("0000-00-00"):
        return None
    return value.strip()[:19]


def order_snapshot(row: Any) -> tuple[Any, ...]:
    """What identifies one state of an order for dedupe within a run (there is no mtime)."""
    return row_key(row, "order_id", "status_id", "status_date", "paid", "is_paid", "sum")


def parse_order(
    payload: Any,
    lines: Sequence[Any],
    refs: References,
    zone: ZoneInfo,
    *,
    changed: str | None = None,
) -> Order:
    """One `orders` row plus its `order-products` rows → Order.

    `changed` is the local time by which the order entered the read (its `date` or
    `status_date`); it becomes `modified_at`. Shoper keeps no modification time for orders.
    """
    if not isinstance(payload, Mapping):
        raise MappingError(f"order is not an object: {type(payload).__name__}")
    order_id = shop_id_number(payload.get("order_id"), "order_id")
    status = _status(payload)
    created = order_date(payload)
    if created is None:
        raise MappingError("missing date")
    ordered_at = from_local(created, zone, "date")
    moment = changed or max(filter(None, (created, status_date(payload))))
    total = money(payload, "sum")
    return Order(
        external_id=str(order_id),
        external_number=str(order_id),
        status=status,
        currency=_currency(payload, refs),
        total_gross=total,
        shipping_gross=money(payload, "shipping_cost", default=Decimal(0)),
        is_paid=_is_paid(payload, total),
        ordered_at=ordered_at,
        modified_at=max(ordered_at, from_local(moment, zone, "status_date")),
        customer=_customer(payload),
        lines=tuple(parse_line(line, n) for n, line in enumerate(lines, 1)),
        payment_method=refs.payments.get(str(payload.get("payment_id", ""))),
        shipping_method=refs.shippings.get(str(payload.get("shipping_id", ""))),
        notes=text(payload, "notes") or None,
    )


def _status(payload: Mapping[str, Any]) -> str:
    """The status_id as text; a missing one is "" (the engine's status map leaves it)."""
    if payload.get("status_id") in (None, ""):
        return ""
    return str(shop_id_number(payload.get("status_id"), "status_id"))


def _currency(payload: Mapping[str, Any], refs: References) -> str:
    currency_id = str(payload.get("currency_id") or "").strip()
    code = refs.currencies.get(currency_id)
    if code is None:
        raise MappingError(f"unknown currency_id {currency_id!r}")
    return code


def _is_paid(payload: Mapping[str, Any], total: Decimal) -> bool:
    """`is_paid` where the shop sends it (newer API), else paid amount covers the sum."""
    if isinstance(payload.get("is_paid"), bool):
        return bool(payload["is_paid"])
    paid = money(payload, "paid", default=Decimal(0))
    return total > 0 and paid >= total


def _customer(payload: Mapping[str, Any]) -> Customer:
    """The buyer from the billing address (else the delivery address). A guest without
    e-mail gets `email=""`: the engine matches such a buyer by name and address."""
    email = text(payload, "email").lower()
    billing = payload.get("billing_address")
    if not isinstance(billing, Mapping):
        billing = payload.get("delivery_address")
    if not isinstance(billing, Mapping):
        billing = {}
    street = " ".join(p for p in (text(billing, "street1"),
                                  text(billing, "street2")) if p)
    return Customer(
        email=email,
        first_name=text(billing, "firstname"),
        last_name=text(billing, "lastname"),
        company=optional_text(billing, "company"),
        tax_id=optional_text(billing, "tax_identification_number"),
        phone=optional_text(billing, "phone"),
        street=street,
        city=text(billing, "city"),
        postcode=text(billing, "postcode"),
        country_code=text(billing, "country_code"),  # as given; the engine judges it
    )


def parse_line(line: Any, number: int) -> OrderLine:
    """One `order-products` row → OrderLine. `code` is the SKU; `price` the gross unit price
    before the line's own `discount_perc` (which is applied here). A line whose product is
    gone from the shop (`product_id` "0") may have no name or code: both pass as ""."""
    if not isinstance(line, Mapping):
        raise MappingError(f"line {number} is not an object")
    try:
        quantity = decimal(line.get("quantity"), "quantity")
        if quantity < 0:
            raise MappingError(f"quantity is negative: {quantity}")
        price = money(line, "price")
        discount = money(line, "discount_perc", default=Decimal(0))
        if not 0 <= discount <= 100:
            raise MappingError(f"discount_perc out of range: {discount}")
        name = text(line, "name")
        option = text(line, "option")
        rate = line.get("tax_value")
        return OrderLine(
            sku=text(line, "code"),
            name=f"{name} ({option})" if option and name else name,
            quantity=quantity,
            unit_price_gross=(price * (100 - discount) / 100).quantize(CENT, ROUND_HALF_UP),
            vat_rate=decimal(rate, "tax_value").quantize(CENT) if rate not in (None, "") else None,
        )
    except MappingError as exc:
        raise MappingError(f"line {number}: {exc}") from None


def line_order_id(line: Any) -> str | None:
    if isinstance(line, Mapping) and _ascii_digits(str(line.get("order_id", "")).strip()):
        return str(int(str(line["order_id"]).strip()))
    return None


# -- products ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShopRef:
    """Our shop id of a product: `"{product_id}:{stock_id}"`, `":v"` appended for a variant.

    Shoper keeps SKU, price and stock on `product-stocks` rows (a product's base row, or one row
    per variant) while names and descriptions live on the product. Carrying both ids lets a
    stock write (`PUT product-stocks/{stock_id}`) and a product update (`PUT products/{id}`, or
    `PUT product-stocks/{stock_id}` for a variant) go out without a lookup first. A bare
    `"{product_id}"` (a binding made by hand) is accepted; its base row is looked up when needed.
    """

    product_id: int
    stock_id: int | None = None
    variant: bool = False

    def __str__(self) -> str:
        if not self.stock_id:
            return str(self.product_id)
        return f"{self.product_id}:{self.stock_id}" + (":v" if self.variant else "")

    @classmethod
    def parse(cls, shop_id: str | None) -> ShopRef:
        parts = (shop_id or "").strip().split(":")
        product, stock = parts[0], parts[1] if len(parts) > 1 else ""
        marker = parts[2] if len(parts) > 2 else ""
        if (len(parts) > 3 or not _ascii_digits(product) or int(product) <= 0
                or (stock and not _ascii_digits(stock)) or marker not in ("", "v")):
            raise MappingError(f"not a Shoper product id: {shop_id!r}")
        stock_id = int(stock) if stock and int(stock) > 0 else None
        return cls(int(product), stock_id, variant=bool(marker) and stock_id is not None)


@dataclass(frozen=True, slots=True)
class StockRow:
    """The part of a `product-stocks` row the connector uses."""

    stock_id: int
    product_id: int
    code: str
    default: bool  # the product's base row (`extended` 0), not a variant

    @property
    def ref(self) -> ShopRef:
        return ShopRef(self.product_id, self.stock_id, variant=not self.default)


def parse_stock_row(row: Any) -> StockRow:
    if not isinstance(row, Mapping):
        raise MappingError("product-stocks row is not an object")
    return StockRow(
        stock_id=shop_id_number(row.get("stock_id"), "stock_id"),
        product_id=shop_id_number(row.get("product_id"), "product_id"),
        code=text(row, "code"),
        default=not flag(row.get("extended", "0")),
    )


def product_key(payload: Any) -> str:
    """The shop id a `products` row maps to (`"{product_id}:{stock_id}"`), as far as the row
    can be read; item errors carry it so the retry set re-reads exactly that product."""
    if not isinstance(payload, Mapping):
        return "?"
    try:
        product_id = shop_id_number(payload.get("product_id"), "product_id")
    except MappingError:
        return item_key(payload, "product_id")
    stock = payload.get("stock")
    try:
        stock_id = shop_id_number(stock.get("stock_id"), "stock_id") if isinstance(
            stock, Mapping) else None
    except MappingError:
        stock_id = None
    return str(ShopRef(product_id, stock_id))


def parse_product(payload: Any, zone: ZoneInfo, taxes: Mapping[int, Decimal]) -> Product:
    """One `products` row → Product (its base stock row carries code, price and weight).
    No SKU or no name passes as "" (the engine lists such a product as needing attention)."""
    if not isinstance(payload, Mapping):
        raise MappingError(f"product is not an object: {type(payload).__name__}")
    product_id = shop_id_number(payload.get("product_id"), "product_id")
    stock = payload.get("stock")
    if not isinstance(stock, Mapping):
        raise MappingError("stock is not an object")
    sku = text(payload, "code") or text(stock, "code")
    name = translated(payload, "name")
    price = money(stock, "price")
    if price < 0:
        raise MappingError(f"price is negative: {price}")
    weight = stock.get("weight")
    stock_id = stock.get("stock_id")
    edited = payload.get("edit_date") or payload.get("add_date")
    tax_id = str(payload.get("tax_id") or "").strip()
    return Product(
        shop_id=str(ShopRef(product_id, shop_id_number(stock_id, "stock.stock_id")
                            if stock_id not in (None, "") else None)),
        sku=sku,
        name=name,
        description=translated(payload, "description") or None,
        price_gross=price,
        ean=text(payload, "ean") or text(stock, "ean") or None,
        weight_kg=decimal(weight, "weight") if weight not in (None, "") and
        decimal(weight, "weight") > 0 else None,
        is_active=_translation_active(payload),
        vat_rate=taxes.get(int(tax_id)) if _ascii_digits(tax_id) else None,
        modified_at=from_local(edited, zone, "edit_date") if isinstance(edited, str) else None,
    )


def _translation_active(payload: Mapping[str, Any]) -> bool:
    translations = payload.get("translations")
    if isinstance(translations, Mapping):
        entry = translations.get(LANGUAGE) or next(iter(translations.values()), None)
        if isinstance(entry, Mapping):
            return flag(entry.get("active", "1"))
    return True


def product_payload(product: Product, *, category_id: int | None, tax_id: int | None) -> Json:
    """Product → body of `POST products` (with `category_id`) or `PUT products/{id}`.

    Everything the contract says we send is sent explicitly, empty values included, so that
    clearing a field in the ERP clears it in the shop. Money goes as a JSON number with two
    decimals (the schema's type); `pkwiu` is required on create and we have none to give.
    """
    if not product.sku.strip():
        raise MappingError("product has no SKU")
    if product.price_gross < 0:
        raise MappingError(f"negative price {product.price_gross}")
    stock: Json = {"price": _number(product.price_gross)}
    if product.weight_kg is not None:
        stock["weight"] = _number(product.weight_kg, places=Decimal("0.001"))
    body: Json = {
        "code": product.sku.strip(),
        "ean": product.ean or "",
        "translations": {LANGUAGE: {
            "name": product.name,
            "description": product.description or "",
            "active": product.is_active,
        }},
        "stock": stock,
    }
    if tax_id is not None:
        body["tax_id"] = tax_id
    if category_id is not None:
        body = {"category_id": category_id, "pkwiu": "", **body}
    return body


def variant_payload(product: Product) -> Json:
    """Product → body of `PUT product-stocks/{stock_id}` for a variant row: price, code, EAN,
    weight and active are the variant's own; its name comes from the shop's option values."""
    if not product.sku.strip():
        raise MappingError("product has no SKU")
    body: Json = {
        "code": product.sku.strip(),
        "ean": product.ean or "",
        "price": _number(product.price_gross),
        "price_type": 1,  # 1 = this row's own price, not a difference to the base price
        "active": product.is_active,
    }
    if product.weight_kg is not None:
        body |= {"weight": _number(product.weight_kg, places=Decimal("0.001")), "weight_type": 1}
    return body


def stock_payload(quantity: StockQuantity) -> Json:
    """StockQuantity → body of `PUT product-stocks/{id}`: an absolute, whole quantity."""
    if quantity.quantity < 0:
        raise MappingError(f"negative stock quantity {quantity.quantity}")
    return {"stock": int(quantity.quantity)}


def status_payload(change: StatusChange) -> tuple[int, Json]:
    """StatusChange → (order_id, body of `PUT orders/{id}`); the shop status is a status_id."""
    order_id = shop_id_number(change.external_id, "order id")
    status_id = shop_id_number(change.shop_status, "shop status (a Shoper status_id)")
    return order_id, {"status_id": status_id}


def _number(value: Decimal, places: Decimal = CENT) -> float:
    return float(value.quantize(places, ROUND_HALF_UP))


# -- bulk answers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkAnswer:
    code: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def retriable(self) -> bool:
        return self.code == 429 or self.code >= 500

    def error(self) -> str:
        """One line: `HTTP 400 invalid_request: Wartość pola 'code' …`."""
        body = self.body
        if isinstance(body, Mapping):
            code = str(body.get("error") or "").strip()
            message = " ".join(str(body.get("error_description") or "").split())
            detail = ": ".join(p for p in (code, message) if p)
        else:
            detail = " ".join(str(body).split())[:160] if body not in (None, "") else ""
        return f"HTTP {self.code} {detail}".strip()


def parse_bulk(data: Any, expected_ids: Sequence[str]) -> dict[str, BulkAnswer]:
    """`{"errors": bool, "items": [{"id","code","body"}]}` → answers by sub-request id.

    Items are matched by id, not by position; an answer that leaves out one of our ids is
    unusable (we could not tell which write happened) and fails the call.
    """
    items = data.get("items") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise MappingError(f"bulk answer has no items list: {type(data).__name__}")
    answers: dict[str, BulkAnswer] = {}
    for item in items:
        if not isinstance(item, Mapping) or item.get("id") in (None, ""):
            raise MappingError("bulk answer item without id")
        try:
            code = int(str(item.get("code")).strip())
        except ValueError:
            raise MappingError(f"bulk item {item['id']!r} has no status code") from None
        answers[str(item["id"])] = BulkAnswer(code, item.get("body"))
    missing = [i for i in expected_ids if i not in answers]
    if missing:
        raise MappingError(f"bulk answer lacks {len(missing)} of {len(expected_ids)} items "
                           f"(first: {missing[0]!r})")
    return answers


def created_id(answer: BulkAnswer) -> int:
    """A create answers the new id (a number, sometimes in a string)."""
    body = answer.body
    if isinstance(body, Mapping):
        body = body.get("product_id", body.get("id"))
    return shop_id_number(body, "created id")
