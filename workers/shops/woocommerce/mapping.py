"""WooCommerce REST v3 payloads ⇄ domain types (the OCA "mapper").

Strict on purpose: a payload that does not look like the documented shape becomes a
`MappingError` (turned into an `ItemError` for that one item by the client), never a wrong value
and never a crash of the run. Money arrives as decimal strings and stays exact; times are read
from the `*_gmt` fields (naive UTC) and returned timezone-aware.

Shapes follow `woocommerce/woocommerce-rest-api-docs:source/includes/wp-api-v3/_orders.md` and
`_products.md`, and the order/product schemas in `Controllers/Version2|3` of
woocommerce/woocommerce.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from workers.domain import Customer, Order, OrderLine, Product, StatusChange, StockQuantity
from workers.shops.numbers import plausible

CENT = Decimal("0.01")

#: Statuses that mean "paid" even when `date_paid_gmt` is missing (e.g. set by hand in the admin).
PAID_STATUSES = frozenset({"processing", "completed"})

#: Where Polish invoicing plugins keep the buyer's NIP; WooCommerce core has no such field.
TAX_ID_META_KEYS = ("_billing_nip", "billing_nip", "_billing_vat_number", "billing_vat_number",
                    "_vat_number", "vat_number")

#: Rate precisions tried, coarsest first, when deriving a line's VAT rate from its amounts.
_RATE_STEPS = (Decimal("1"), Decimal("0.5"), Decimal("0.1"), Decimal("0.01"))


class MappingError(ValueError):
    """One payload item does not have the documented shape; the message says what is wrong."""


# -- primitive readers ------------------------------------------------------------------------


def _field(payload: Mapping[str, Any], key: str) -> Any:
    if key not in payload or payload[key] is None:
        raise MappingError(f"missing {key}")
    return payload[key]


def _text(payload: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    """A string field; absent/null is "" unless `required` (then it must also be non-blank)."""
    value = payload.get(key)
    if value is None:
        if required:
            raise MappingError(f"missing {key}")
        return ""
    if not isinstance(value, str):
        raise MappingError(f"{key} is not a string: {value!r}")
    if required and not value.strip():
        raise MappingError(f"{key} is empty")
    return value


def _optional_text(payload: Mapping[str, Any], key: str) -> str | None:
    text = _text(payload, key).strip()
    return text or None


def _decimal(value: Any, what: str) -> Decimal:
    """A decimal from WooCommerce's decimal strings (also numbers, which some fields use)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MappingError(f"{what} is not a number: {value!r}")
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(repr(value))
    except InvalidOperation:
        raise MappingError(f"{what} is not a number: {value!r}") from None
    if not plausible(number):  # NaN, Infinity, 1e30: see workers.shops.numbers
        raise MappingError(f"{what} is not a usable number: {value!r:.60}")
    return number


def _money(payload: Mapping[str, Any], key: str, *, default: Decimal | None = None) -> Decimal:
    value = payload.get(key)
    if (value is None or value == "") and default is not None:
        return default
    if value is None or value == "":
        raise MappingError(f"missing {key}")
    return _decimal(value, key)


def _gmt(payload: Mapping[str, Any], key: str, *, required: bool = True) -> datetime | None:
    """A `*_gmt` field (naive UTC, `2017-03-22T19:28:08`) as an aware UTC datetime."""
    value = payload.get(key)
    if value in (None, ""):
        if required:
            raise MappingError(f"missing {key}")
        return None
    if not isinstance(value, str):
        raise MappingError(f"{key} is not a date: {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MappingError(f"{key} is not a date: {value!r}") from None
    if parsed.tzinfo is not None:  # not documented, but an explicit offset is unambiguous
        try:
            return parsed.astimezone(timezone.utc)
        except OverflowError:  # "0001-01-01T00:00:00+01:00" has no UTC reading
            raise MappingError(f"{key} is out of range: {value!r}") from None
    return parsed.replace(tzinfo=timezone.utc)


def _id(payload: Mapping[str, Any]) -> int:
    value = _field(payload, "id")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise MappingError(f"id is not a positive integer: {value!r}")
    return value


def _list(value: Any) -> list[Any]:
    """A list field, or nothing: `or ()` would iterate a number (TypeError) or a string."""
    return value if isinstance(value, list) else []


def _is_key(value: Any) -> bool:
    """Can `value` be looked up in a dict? (A list or object from the shop cannot.)"""
    return isinstance(value, str | int | float | bool) or value is None


def item_key(payload: Any) -> str:
    """The key an item error is filed under: the shop id when there is one."""
    if isinstance(payload, Mapping) and payload.get("id") not in (None, ""):
        return str(payload["id"])
    return "?"


def modified_gmt(payload: Any) -> datetime | None:
    """`date_modified_gmt` of a raw item, or None when it is missing or garbled (for paging)."""
    if not isinstance(payload, Mapping):
        return None
    try:
        return _gmt(payload, "date_modified_gmt")
    except MappingError:
        return None


# -- orders -----------------------------------------------------------------------------------


def parse_order(payload: Any) -> Order:
    """One element of `GET orders` → Order. Raises MappingError with a one-line reason."""
    if not isinstance(payload, Mapping):
        raise MappingError(f"order is not an object: {type(payload).__name__}")
    order_id = _id(payload)
    status = _text(payload, "status", required=True)
    date_paid = _gmt(payload, "date_paid_gmt", required=False)
    lines = _field(payload, "line_items")
    if not isinstance(lines, list):
        raise MappingError("line_items is not a list")
    rates = _tax_rates(payload)
    return Order(
        external_id=str(order_id),
        external_number=_optional_text(payload, "number") or str(order_id),
        status=status,
        currency=_currency(payload),
        total_gross=_money(payload, "total"),
        shipping_gross=(_money(payload, "shipping_total", default=Decimal(0))
                        + _money(payload, "shipping_tax", default=Decimal(0))),
        is_paid=date_paid is not None or status in PAID_STATUSES,
        ordered_at=_gmt(payload, "date_created_gmt"),  # type: ignore[arg-type]
        modified_at=_gmt(payload, "date_modified_gmt"),  # type: ignore[arg-type]
        customer=_customer(payload),
        lines=tuple(_line(line, n, rates) for n, line in enumerate(lines, 1)),
        payment_method=(_optional_text(payload, "payment_method_title")
                        or _optional_text(payload, "payment_method")),
        shipping_method=_shipping_method(payload),
        notes=_optional_text(payload, "customer_note"),
    )


def _currency(payload: Mapping[str, Any]) -> str:
    currency = _text(payload, "currency", required=True).strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise MappingError(f"currency is not an ISO code: {currency!r}")
    return currency


def _customer(payload: Mapping[str, Any]) -> Customer:
    billing = _field(payload, "billing")
    if not isinstance(billing, Mapping):
        raise MappingError("billing is not an object")
    email = _text(billing, "email").strip().lower()
    if not email:
        # The ERP identifies customers by e-mail; guessing would merge strangers.
        raise MappingError("billing.email is empty")
    street = " ".join(part for part in (_text(billing, "address_1").strip(),
                                         _text(billing, "address_2").strip()) if part)
    country = _text(billing, "country").strip().upper()
    return Customer(
        email=email,
        first_name=_text(billing, "first_name").strip(),
        last_name=_text(billing, "last_name").strip(),
        company=_optional_text(billing, "company"),
        tax_id=_tax_id(payload),
        phone=_optional_text(billing, "phone"),
        street=street,
        city=_text(billing, "city").strip(),
        postcode=_text(billing, "postcode").strip(),
        country_code=country or "PL",
    )


def _tax_id(payload: Mapping[str, Any]) -> str | None:
    meta = payload.get("meta_data")
    if not isinstance(meta, list):
        return None
    # Only text keys: a list as a key (hostile meta) is not hashable and means nothing here.
    values = {m.get("key"): m.get("value") for m in meta
              if isinstance(m, Mapping) and isinstance(m.get("key"), str)}
    for key in TAX_ID_META_KEYS:
        value = values.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _shipping_method(payload: Mapping[str, Any]) -> str | None:
    lines = payload.get("shipping_lines")
    if not isinstance(lines, list):
        return None
    titles = [line.get("method_title") for line in lines if isinstance(line, Mapping)]
    joined = ", ".join(t.strip() for t in titles if isinstance(t, str) and t.strip())
    return joined or None


def _tax_rates(payload: Mapping[str, Any]) -> dict[Any, Decimal]:
    """rate_id → percent from `tax_lines[].rate_percent` (WooCommerce ≥ 3.7; absent before)."""
    rates: dict[Any, Decimal] = {}
    for tax in _list(payload.get("tax_lines")):
        if isinstance(tax, Mapping) and tax.get("rate_percent") not in (None, "") \
                and tax.get("rate_id") is not None and _is_key(tax.get("rate_id")):
            try:
                rates[tax.get("rate_id")] = _decimal(tax["rate_percent"], "rate_percent")
            except MappingError:
                continue
    return rates


def _line(line: Any, number: int, rates: Mapping[Any, Decimal]) -> OrderLine:
    if not isinstance(line, Mapping):
        raise MappingError(f"line {number} is not an object")
    try:
        quantity = _decimal(_field(line, "quantity"), "quantity")
        if quantity <= 0:
            raise MappingError(f"quantity must be positive: {quantity}")
        total = _money(line, "total")
        total_tax = _money(line, "total_tax", default=Decimal(0))
        return OrderLine(
            sku=_text(line, "sku").strip(),
            name=_text(line, "name", required=True).strip(),
            quantity=quantity,
            unit_price_gross=((total + total_tax) / quantity).quantize(CENT, ROUND_HALF_UP),
            vat_rate=_line_vat_rate(line, total, total_tax, rates),
        )
    except MappingError as exc:
        raise MappingError(f"line {number}: {exc}") from None


def _line_vat_rate(
    line: Mapping[str, Any], total: Decimal, total_tax: Decimal, rates: Mapping[Any, Decimal]
) -> Decimal | None:
    """The line's VAT rate in percent: the shop's own rate when it says so, else derived.

    A single applied tax whose `rate_percent` the order lists is authoritative. Otherwise the
    rate is the simplest one (whole percent, then halves, tenths, hundredths) that reproduces the
    line's tax to the cent — the way WooCommerce computed it — and None when none does or the
    line is free (nothing to derive from).
    """
    applied = [t for t in _list(line.get("taxes")) if isinstance(t, Mapping)
               and t.get("total") not in (None, "", "0", "0.00", 0)]
    tax_id = applied[0].get("id") if len(applied) == 1 else None
    if tax_id is not None and _is_key(tax_id) and tax_id in rates:
        return rates[tax_id].quantize(CENT)
    if total <= 0:
        return None
    if total_tax == 0:
        return Decimal("0.00")
    exact = total_tax * 100 / total
    for step in _RATE_STEPS:
        candidate = (exact / step).quantize(Decimal(1), ROUND_HALF_UP) * step
        if (total * candidate / 100).quantize(CENT, ROUND_HALF_UP) == total_tax:
            return candidate.quantize(CENT)
    return None


# -- products ---------------------------------------------------------------------------------


def parse_product(payload: Any) -> Product:
    """One element of `GET products` → Product. Raises MappingError with a one-line reason."""
    if not isinstance(payload, Mapping):
        raise MappingError(f"product is not an object: {type(payload).__name__}")
    product_id = _id(payload)
    sku = _text(payload, "sku").strip()
    if not sku:
        raise MappingError("product has no SKU")
    weight = _text(payload, "weight").strip()
    return Product(
        shop_id=str(product_id),
        sku=sku,
        name=_text(payload, "name", required=True).strip(),
        description=_text(payload, "description") or None,
        price_gross=_product_price(payload),
        ean=_optional_text(payload, "global_unique_id"),
        weight_kg=_decimal(weight, "weight") if weight else None,
        is_active=_text(payload, "status", required=True) == "publish",
        modified_at=_gmt(payload, "date_modified_gmt"),
    )


def _product_price(payload: Mapping[str, Any]) -> Decimal:
    """The regular (list) price; `price` (the current one, maybe on sale) only when it is unset."""
    for key in ("regular_price", "price"):
        value = payload.get(key)
        if value not in (None, ""):
            price = _decimal(value, key)
            if price < 0:
                raise MappingError(f"{key} is negative: {price}")
            return price
    raise MappingError("product has no price (regular_price and price are empty)")


def product_payload(product: Product, *, with_id: bool) -> dict[str, Any]:
    """Product → the body of one `products/batch` create/update item.

    Everything the contract says we send is sent explicitly, empty values included, so clearing
    a field in the ERP clears it in the shop too.

    EAN goes to `global_unique_id`, WooCommerce's own "GTIN, UPC, EAN or ISBN" field: added to the
    product in 9.2 (woocommerce/woocommerce#50442) and to the REST products schema by PR #51264
    (documented in woocommerce-rest-api-docs PR #261/#262). It is the only EAN field core knows —
    the alternatives are plugin-specific meta keys — and WooCommerce enforces its uniqueness like
    the SKU's. Older shops ignore the unknown property (WordPress REST drops fields outside the
    schema), so sending it costs nothing there; the EAN is simply not stored.
    """
    payload: dict[str, Any] = {
        "sku": product.sku,
        "name": product.name,
        "description": product.description or "",
        "regular_price": format_money(product.price_gross),
        "status": "publish" if product.is_active else "draft",
        "weight": format_decimal(product.weight_kg) if product.weight_kg is not None else "",
        "global_unique_id": product.ean or "",
    }
    if with_id:
        payload = {"id": shop_int_id(product.shop_id), **payload}
    return payload


def status_payload(change: StatusChange) -> dict[str, Any]:
    """StatusChange → one `orders/batch` update item; the status is the shop's own slug."""
    if not change.shop_status.strip():
        raise MappingError("empty shop status")
    return {"id": shop_int_id(change.external_id), "status": change.shop_status.strip()}


def stock_payload(quantity: StockQuantity) -> dict[str, Any]:
    """StockQuantity → one `products/batch` update item. WooCommerce stock is whole units."""
    if quantity.quantity < 0:
        raise MappingError(f"negative stock quantity {quantity.quantity}")
    return {"id": shop_int_id(quantity.shop_id), "manage_stock": True,
            "stock_quantity": int(quantity.quantity)}


def shop_int_id(shop_id: str | None) -> int:
    """Our string shop id → WooCommerce's integer id (MappingError when unusable)."""
    text = str(shop_id).strip() if shop_id is not None else ""
    # isascii: "²" and "١" are isdigit() too, and int() refuses the first.
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise MappingError(f"not a WooCommerce id: {shop_id!r}")
    return int(text)


def format_money(amount: Decimal) -> str:
    return str(amount.quantize(CENT, ROUND_HALF_UP))


def format_decimal(value: Decimal) -> str:
    """`1.500` → `1.5`, `2` → `2`, never exponent notation."""
    return format(value.normalize(), "f")


# -- batch answers ----------------------------------------------------------------------------


def batch_item_error(item: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """(one-line message, owner id) when a batch answer item failed, else None.

    WooCommerce answers HTTP 200 for a batch and puts `{"id", "error":{"code","message","data"}}`
    in place of each failed item. A duplicate SKU carries the owner in `data.resource_id`.
    """
    error = item.get("error")
    if not error:
        return None
    if not isinstance(error, Mapping):
        return f"{error}", None
    code = error.get("code") or "error"
    message = " ".join(str(error.get("message") or "").split())
    data = error.get("data")
    owner = data.get("resource_id") if isinstance(data, Mapping) else None
    owner_id = str(owner) if is_shop_id(owner) else None
    return f"{code}: {message}".rstrip(": "), owner_id


def is_shop_id(value: Any) -> bool:
    """A WooCommerce id as JSON carries it: a positive integer (or its digits)."""
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and value > 0) or (
        isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0)


def ensure_list(data: Any, what: str) -> Sequence[Any]:
    """A collection answer must be a JSON array; anything else means the page is unusable."""
    if not isinstance(data, list):
        raise MappingError(f"{what} page is not a list but {type(data).__name__}")
    return data
