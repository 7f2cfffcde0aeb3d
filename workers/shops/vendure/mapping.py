"""Vendure Admin API rows ⇄ domain objects. Pure functions: no HTTP, no clock.

Vendure facts this module encodes (Vendure 3.7, observed on a running server):
- money is an integer in minor units (4999 = 49.99); `priceWithTax` is always gross and `price`
  always net on output, while the `price` *input* is gross only when the channel has
  `pricesIncludeTax` — so what we send depends on the channel;
- an order's customer is a Customer (guests too); its addresses carry `fullName`, not first and
  last names;
- a cancelled line keeps `orderPlacedQuantity` but drops `quantity` to 0.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from workers.domain import Customer, Order, OrderLine, Product
from workers.shops.numbers import plausible

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
#: Order states after which nothing about the order changes any more (default order process).
TERMINAL_ORDER_STATES = ("Delivered", "Cancelled")


class MappingError(ValueError):
    """One shop row (or one item to send) cannot be mapped; an item error, not a run failure."""


@dataclass(frozen=True, slots=True)
class Channel:
    """What the connector needs to know about the Vendure channel it writes into."""

    id: str
    language: str
    currency: str
    prices_include_tax: bool
    tax_zone_id: str | None
    #: VAT rate (e.g. Decimal("23")) → tax category id, for enabled rates in the default tax zone.
    category_by_rate: Mapping[Decimal, str] = field(default_factory=dict)
    default_category_id: str | None = None
    stock_location_id: str | None = None

    def rate_of_category(self, category_id: str | None) -> Decimal | None:
        for rate, category in self.category_by_rate.items():
            if category == category_id:
                return rate
        return None


def channel_from(active: Mapping[str, Any], settings: Mapping[str, Any]) -> Channel:
    """MappingError when the shop's answer has no usable channel id."""
    active, settings = _obj(active), _obj(settings)
    zone = _obj(active.get("defaultTaxZone")).get("id")
    by_rate: dict[Decimal, str] = {}
    default_category = None
    for rate in _items(settings.get("taxRates")):
        category = _obj(rate.get("category"))
        if category.get("id") is None:
            continue  # a rate without a category cannot be used for anything
        if category.get("isDefault"):
            default_category = str(category["id"])
        # Customer-group rates are exceptions for some buyers, not the product's own rate.
        if not rate.get("enabled") or rate.get("customerGroup") or zone is None:
            continue
        if str(_obj(rate.get("zone")).get("id")) != str(zone):
            continue
        value = decimal_or_none(rate.get("value"))
        if value is not None:
            by_rate.setdefault(value.normalize(), str(category["id"]))
    locations = [row for row in _items(settings.get("stockLocations")) if row.get("id")]
    if not is_id(active.get("id")):
        raise MappingError(f"the active channel has no id: {active.get('id')!r:.40}")
    return Channel(
        id=str(active["id"]),
        language=str(active.get("defaultLanguageCode") or "en"),
        currency=str(active.get("defaultCurrencyCode") or ""),
        prices_include_tax=bool(active.get("pricesIncludeTax")),
        tax_zone_id=str(zone) if zone is not None else None,
        category_by_rate=by_rate,
        default_category_id=default_category,
        # The oldest location is Vendure's "Default Stock Location" on a fresh install.
        stock_location_id=str(locations[0]["id"]) if locations else None,
    )


# -- scalars ----------------------------------------------------------------------------------


def money(value: Any) -> Decimal:
    """Minor units (int) → Decimal amount with two places."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MappingError(f"money value {value!r:.40} is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise MappingError(f"money value {value!r:.40} is not a number") from None
    if not plausible(number):  # "NaN" would pass quantize and fail every comparison later
        raise MappingError(f"money value {value!r:.40} is not a usable number")
    return (number / HUNDRED).quantize(CENT, ROUND_HALF_UP)


def minor_units(amount: Decimal) -> int:
    """Decimal amount → integer minor units, rounded half up (Vendure stores integers)."""
    return int((amount * HUNDRED).quantize(Decimal(1), ROUND_HALF_UP))


def decimal_or_none(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if plausible(number) else None  # NaN, 1e30: as good as no value


def parse_time(value: Any, what: str = "date") -> datetime:
    """Vendure's DateTime (`2026-01-02T03:04:05.000Z`) → aware UTC datetime."""
    if not isinstance(value, str) or not value:
        raise MappingError(f"{what} {value!r} is not a date")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(f"{what} {value!r} is not an ISO date") from None
    if parsed.tzinfo is None:  # never guess a zone; Vendure always sends Z
        raise MappingError(f"{what} {value!r} has no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # "0001-01-01T00:00:00+01:00" has no UTC reading
        raise MappingError(f"{what} {value!r} is out of range") from None


def iso_z(moment: datetime) -> str:
    """Aware datetime → the UTC ISO form Vendure's DateTime filters take."""
    if moment.tzinfo is None:
        raise ValueError("datetimes passed to a ShopClient must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def item_key(row: Any) -> str:
    if isinstance(row, Mapping):
        for name in ("id", "code", "sku"):
            if row.get(name) not in (None, ""):
                return str(row[name])
    return repr(row)[:60]


def _items(listing: Any) -> list[Mapping[str, Any]]:
    if isinstance(listing, Mapping):
        listing = listing.get("items")
    return [row for row in _list(listing) if isinstance(row, Mapping)]


def _list(value: Any) -> list[Any]:
    """A list field, or nothing: `or []` would iterate a number (TypeError) or a string."""
    return value if isinstance(value, list) else []


def _obj(value: Any) -> Mapping[str, Any]:
    """An object field, or an empty one: `(x or {}).get` fails on a number or a list."""
    return value if isinstance(value, Mapping) else {}


def is_id(value: Any) -> bool:
    """Vendure ids are strings (or numbers on some id strategies); never lists or objects."""
    return isinstance(value, str | int) and not isinstance(value, bool) and str(value) != ""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


# -- orders -----------------------------------------------------------------------------------


def order_modified(row: Mapping[str, Any], fallback: datetime) -> datetime:
    """When the order last changed, as far as we can see: the latest of the order's own
    `updatedAt` and its payments' and fulfilments' — Vendure does not bump the order's
    `updatedAt` when a payment is settled or a fulfilment ships. A date that cannot be read is
    left out (`fallback`, the order date, when none can): it orders pages, it is no ERP value."""
    moments = []
    children = [*_list(row.get("payments")), *_list(row.get("fulfillments"))]
    for holder in [row, *children]:
        if isinstance(holder, Mapping) and holder.get("updatedAt"):
            try:
                moments.append(parse_time(holder["updatedAt"], "updatedAt"))
            except MappingError:
                continue
    return max(moments, default=fallback)


def is_paid(row: Mapping[str, Any]) -> bool:
    """Paid = settled payments, less settled refunds, cover the order total."""
    settled = Decimal(0)
    for payment in _list(row.get("payments")):
        if not isinstance(payment, Mapping) or payment.get("state") != "Settled":
            continue
        settled += money(payment.get("amount", 0))
        for refund in _list(payment.get("refunds")):
            if isinstance(refund, Mapping) and refund.get("state") == "Settled":
                settled -= money(refund.get("total", 0))
    total = money(row.get("totalWithTax", 0))
    has_settled = any(isinstance(p, Mapping) and p.get("state") == "Settled"
                      for p in _list(row.get("payments")))
    return settled >= total and (has_settled or total == 0)


def parse_order(row: Any) -> Order:
    """An order row → Order. Refused (MappingError) only for what would make the ERP row wrong:
    no id, an amount that cannot be read (total, shipping, a line's price or quantity, a settled
    payment), no currency, no readable order date. Everything else maps to "" or None and the
    engine decides (a line without name or SKU, a guest without e-mail, an odd country)."""
    if not isinstance(row, Mapping):
        raise MappingError(f"order is not an object: {row!r:.80}")
    oid = row.get("id")
    if not is_id(oid):
        raise MappingError(f"order without a usable id: {oid!r:.40}")
    currency = _text(row.get("currencyCode"))
    if not currency:
        raise MappingError(f"order has no currency code: {row.get('currencyCode')!r:.40}")
    placed = row.get("orderPlacedAt") or row.get("createdAt")
    ordered_at = parse_time(placed, "orderPlacedAt")
    payments = [p for p in _list(row.get("payments")) if isinstance(p, Mapping)]
    shipping = [s for s in _list(row.get("shippingLines")) if isinstance(s, Mapping)]
    method = _obj(shipping[0].get("shippingMethod")) if shipping else {}
    return Order(
        external_id=str(oid),
        external_number=_text(row.get("code")) or None,
        status=_text(row.get("state")),
        currency=currency,
        total_gross=money(row.get("totalWithTax")),
        shipping_gross=money(row.get("shippingWithTax", 0)),
        is_paid=is_paid(row),
        ordered_at=ordered_at,
        modified_at=order_modified(row, ordered_at),
        customer=parse_customer(row),
        lines=tuple(parse_lines(row.get("lines"))),
        payment_method=(_text(payments[0].get("method")) or None) if payments else None,
        shipping_method=_text(method.get("name")) or _text(method.get("code")) or None,
    )


def parse_customer(row: Mapping[str, Any]) -> Customer:
    """The order's customer. A guest without e-mail (a shop whose order process does not
    require a customer) is `email=""`: the engine matches by name and address."""
    customer = _obj(row.get("customer"))
    # The billing address is the ERP customer's address; fall back to shipping when the shop
    # only collected one (Vendure's default checkout asks for the shipping address only).
    address = _address(row.get("billingAddress")) or _address(row.get("shippingAddress")) or {}
    first, last = _text(customer.get("firstName")), _text(customer.get("lastName"))
    if not (first or last):
        first, last = _split_name(_text(address.get("fullName")))
    street = " ".join(filter(None, (_text(address.get("streetLine1")),
                                    _text(address.get("streetLine2")))))
    return Customer(
        email=_text(customer.get("emailAddress")),
        first_name=first,
        last_name=last,
        company=_text(address.get("company")) or None,
        phone=_text(customer.get("phoneNumber")) or _text(address.get("phoneNumber")) or None,
        street=street,
        city=_text(address.get("city")),
        postcode=_text(address.get("postalCode")),
        # As given: the engine keeps a code that fits and falls back to the shop's country.
        country_code=_text(address.get("countryCode")),
    )


def _address(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping) and _text(value.get("streetLine1")):
        return value
    return None


def _split_name(full: str) -> tuple[str, str]:
    first, _, last = full.partition(" ")
    return first, last.strip()


def parse_lines(lines: Any) -> list[OrderLine]:
    parsed = []
    if lines is not None and not isinstance(lines, list):
        raise MappingError(f"order lines are not a list: {type(lines).__name__}")
    for line in lines or []:
        if not isinstance(line, Mapping):
            raise MappingError(f"order line is not an object: {line!r:.80}")
        # A cancelled line drops `quantity` to 0 but remembers what was ordered.
        quantity = line.get("quantity") or line.get("orderPlacedQuantity") or 0
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            # Vendure counts whole units (GraphQL Int); "abc" or 1.5 is not a quantity.
            raise MappingError(f"order line quantity {quantity!r:.40} is not a whole number")
        if not quantity:
            continue  # added to the cart and removed again before the order was placed
        variant = _obj(line.get("productVariant"))
        # The prorated price is what the customer pays per unit after item and order-level
        # discounts; the lines then add up to the order total (less shipping).
        unit = line.get("proratedUnitPriceWithTax", line.get("unitPriceWithTax"))
        parsed.append(OrderLine(
            # Empty when the shop has none: the engine names the line by its SKU or
            # "(no name)" and binds no product to a line without SKU.
            sku=_text(variant.get("sku")),
            name=_text(variant.get("name")),
            quantity=Decimal(int(quantity)),
            unit_price_gross=money(unit),
            vat_rate=_rate(line.get("taxRate")),
        ))
    return parsed


def _rate(value: Any) -> Decimal | None:
    rate = decimal_or_none(value)
    return rate.quantize(CENT, ROUND_HALF_UP) if rate is not None else None


# -- products ---------------------------------------------------------------------------------


def parse_variant(row: Any) -> Product:
    """A variant (with its `product`) → Product; `shop_id` is the variant id.

    Refused only without an id or a readable gross price. No SKU or no name is "" (the engine
    lists such a product as needing attention); texts come as Vendure stored them, which is
    byte for byte what was sent (it keeps translations verbatim: no trimming, no HTML
    filtering), so a round trip leaves the ERP's text alone.
    """
    if not isinstance(row, Mapping):
        raise MappingError(f"variant is not an object: {row!r:.80}")
    if not is_id(row.get("id")):
        raise MappingError(f"variant {row.get('sku')!r:.40} has no usable id")
    product = _obj(row.get("product"))
    rate = _rate(_obj(row.get("taxRateApplied")).get("value"))
    # A product with one variant is named by the product (what the admin UI edits); the
    # variants of a product with several carry their own names ("Koszulka Czerwona L").
    siblings = _obj(product.get("variantList")).get("totalItems")
    names = (product.get("name"), row.get("name")) if siblings == 1 else (row.get("name"),
                                                                          product.get("name"))
    return Product(
        sku=_text(row.get("sku")),
        name=next((text for text in map(_verbatim, names) if text), ""),
        price_gross=money(row.get("priceWithTax")),
        price_net=_money_or_none(row.get("price")),
        vat_rate=rate,
        description=_verbatim(product.get("description")),
        is_active=bool(row.get("enabled", True)) and bool(product.get("enabled", True)),
        shop_id=str(row["id"]),
        modified_at=_latest(row.get("updatedAt"), product.get("updatedAt")),
    )


def _verbatim(value: Any) -> str | None:
    """A text as stored, or None when there is none (missing, not a string, only blanks)."""
    return value if isinstance(value, str) and value.strip() else None


def _money_or_none(value: Any) -> Decimal | None:
    try:
        return money(value)
    except MappingError:
        return None


def _latest(*values: Any) -> datetime | None:
    """The latest readable date (the product's or its variant's `updatedAt`), else None."""
    moments = []
    for value in values:
        try:
            moments.append(parse_time(value, "updatedAt"))
        except MappingError:
            continue
    return max(moments, default=None)


def tax_category(product: Product, channel: Channel) -> tuple[str | None, Decimal | None]:
    """The tax category for a product and the rate it carries in the channel's tax zone.

    The ERP's VAT rate picks the category whose enabled rate in the default tax zone equals it;
    a rate the shop has no category for is an item error (with prices entered net it would
    give a wrong gross price, and the shop would show the wrong VAT either way).
    """
    if product.vat_rate is None:
        category = channel.default_category_id
        return category, channel.rate_of_category(category)
    wanted = product.vat_rate.normalize()
    category = channel.category_by_rate.get(wanted)
    if category is None:
        known = ", ".join(f"{r}%" for r in sorted(channel.category_by_rate)) or "none"
        raise MappingError(
            f"VAT {product.vat_rate}%: no enabled tax rate of that value in the channel's "
            f"default tax zone (rates there: {known}); add one in Vendure under Settings › Taxes"
        )
    return category, wanted


def price_input(product: Product, channel: Channel, rate: Decimal | None) -> int:
    """The variant `price` to send: gross when the channel's prices include tax, else the net
    price that Vendure will turn back into this gross price (as close as whole minor units
    allow)."""
    if product.price_gross is None or product.price_gross < 0:
        raise MappingError(f"price {product.price_gross!r} is not a valid price")
    if channel.prices_include_tax:
        return minor_units(product.price_gross)
    if rate is None:
        raise MappingError("the channel enters prices net of tax and no tax rate applies to "
                           "this product, so its net price cannot be worked out")
    return minor_units(product.price_gross / (1 + rate / HUNDRED))


def slug(name: str, sku: str) -> str:
    """A URL slug from name and SKU (Vendure makes it unique by adding `-2` if it must)."""
    text = unicodedata.normalize("NFKD", f"{name} {sku}".replace("ł", "l").replace("Ł", "L"))
    ascii_text = text.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:200] or "product"


def product_input(product: Product, channel: Channel, *, product_id: str | None = None
                  ) -> dict[str, Any]:
    """CreateProductInput / UpdateProductInput for the variant's parent."""
    translation: dict[str, Any] = {"languageCode": channel.language, "name": product.name,
                                   "description": product.description or ""}
    body: dict[str, Any] = {"enabled": product.is_active, "translations": [translation]}
    if product_id is None:
        translation["slug"] = slug(product.name, product.sku)
    else:
        body["id"] = product_id  # the slug stays what it is: links to the product keep working
    return body


def variant_input(product: Product, channel: Channel, *, product_id: str | None = None,
                  variant_id: str | None = None) -> dict[str, Any]:
    """CreateProductVariantInput (with product_id) or UpdateProductVariantInput (variant_id)."""
    _check_product(product)
    category, rate = tax_category(product, channel)
    body: dict[str, Any] = {
        "sku": product.sku,
        "price": price_input(product, channel, rate),
        "enabled": product.is_active,
        "translations": [{"languageCode": channel.language, "name": product.name}],
    }
    if category is not None:
        body["taxCategoryId"] = category
    if variant_id is not None:
        body["id"] = variant_id
    else:
        body["productId"] = product_id
        body["stockOnHand"] = 0  # stock is update_stock's business; never invent any
    return body


def _check_product(product: Product) -> None:
    if not product.sku.strip():
        raise MappingError("product without a SKU")
    if not product.name.strip():
        raise MappingError("product without a name")


# -- stock ------------------------------------------------------------------------------------


def stock_on_hand(quantity: int, levels: Sequence[Mapping[str, Any]], location_id: str) -> int:
    """The `stockOnHand` to write at `location_id` so that what Vendure may sell there
    (on hand − allocated to placed orders) equals `quantity`: Vendure subtracts its own
    allocations, while the ERP's number has already taken its reservations off."""
    allocated = 0
    for level in levels:
        if str(level.get("stockLocationId")) == str(location_id):
            value = level.get("stockAllocated") or 0
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise MappingError(f"stockAllocated {value!r:.40} is not a count")
            allocated += value
    return max(0, int(quantity)) + allocated
