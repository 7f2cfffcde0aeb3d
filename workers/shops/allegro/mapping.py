"""Allegro payloads ⇄ our domain types (the OCA "mapper"). No HTTP here.

Checkout forms (orders): `id` (a UUID), `status` (BOUGHT, FILLED_IN, READY_FOR_PROCESSING,
CANCELLED), `fulfillment.status` (the seller's: NEW, PROCESSING, … SENT …), `updatedAt`,
`revision`, `buyer`, `payment`, `delivery` (address, method, cost), `invoice` (required,
address with `company.taxId` = NIP), `lineItems[]` (`offer.id`, `offer.name`,
`offer.external.id` = the seller's SKU, `quantity`, `price`, `boughtAt`), `summary.totalToPay`.
Offers: `id`, `name`, `sellingMode.price`, `stock.available`, `publication.status`,
`external.id`. Money is `{"amount": "123.45", "currency": "PLN"}` with the amount as a string.
Every fact is cited in docs/fidelity/allegro.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from workers.domain import Customer, Order, OrderLine, Product
from workers.shops.numbers import plausible

Json = dict[str, Any]

READY = "READY_FOR_PROCESSING"
CANCELLED = "CANCELLED"
#: The seller's fulfilment statuses a status write may set (`shop_status_map.shop_status`).
FULFILLMENT_STATUSES = frozenset({
    "NEW", "PROCESSING", "READY_FOR_SHIPMENT", "READY_FOR_PICKUP", "SENT", "PICKED_UP",
    "CANCELLED", "SUSPENDED", "RETURNED",
})
#: Allegro titles are at most 75 characters.
MAX_NAME = 75
CENT = Decimal("0.01")
#: What a payment of this type does not mean "paid" by itself being finished.
CASH_ON_DELIVERY = "CASH_ON_DELIVERY"


class MappingError(ValueError):
    """One payload cannot be read; the caller turns it into an item error."""


# -- small readers ------------------------------------------------------------------------------


def _obj(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def text(data: Json, *path: str) -> str:
    node: Any = data
    for key in path:
        node = _obj(node).get(key)
    return _str(node)


def money(value: Any, what: str) -> tuple[Decimal, str]:
    """`{"amount": "12.30", "currency": "PLN"}` → (Decimal, currency); MappingError otherwise."""
    node = _obj(value)
    raw = node.get("amount")
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise MappingError(f"{what}: no amount")
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise MappingError(f"{what}: amount {str(raw)[:30]!r} is not a number") from None
    if not plausible(amount) or amount < 0:
        raise MappingError(f"{what}: amount {str(raw)[:30]!r} is out of range")
    currency = _str(node.get("currency")).upper()
    if currency and (len(currency) != 3 or not currency.isalpha()):
        raise MappingError(f"{what}: currency {currency[:10]!r} is not an ISO code")
    return amount.quantize(CENT), currency


def timestamp(value: Any, what: str) -> datetime:
    """ISO-8601 with `Z` or an offset (Allegro sends UTC with milliseconds) → aware UTC."""
    raw = _str(value)
    if not raw:
        raise MappingError(f"{what}: missing")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise MappingError(f"{what}: {raw[:40]!r} is not a date") from None
    if moment.tzinfo is None:  # documented as UTC; read a bare time as UTC
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted out of range: no date we can use
        raise MappingError(f"{what}: {raw[:40]!r} is out of range") from None


def wire_time(moment: datetime) -> str:
    """An aware instant in the form Allegro's filters take: `2024-05-01T10:00:00.000Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def form_id(form: Any) -> str:
    value = _obj(form).get("id")
    return _str(value) if isinstance(value, str) else ""


# -- orders -------------------------------------------------------------------------------------


def importable(form: Json) -> bool:
    """Forms that become (or update) ERP orders: ready for processing, and cancelled ones
    that had got that far (paid, or cash on delivery) — a buyer can cancel after the form was
    ready, and the ERP must learn it. Forms still being filled in (BOUGHT, FILLED_IN) may
    still change and are not orders yet."""
    status = _str(form.get("status"))
    if status == READY:
        return True
    if status == CANCELLED:
        payment = _obj(form.get("payment"))
        return (bool(_str(payment.get("finishedAt")))
                or _str(payment.get("type")) == CASH_ON_DELIVERY)
    return False


def parse_order(form: Json) -> Order:
    external_id = form_id(form)
    if not external_id:
        raise MappingError("the checkout form has no id")
    modified = timestamp(form.get("updatedAt"), "updatedAt")
    lines, bought = _lines(form.get("lineItems"))
    total, currency = _total(form, lines)
    delivery = _obj(form.get("delivery"))
    shipping = Decimal(0)
    if delivery.get("cost") is not None:
        shipping, _ = money(delivery.get("cost"), "delivery cost")
    payment = _obj(form.get("payment"))
    paid = bool(_str(payment.get("finishedAt"))) and _str(payment.get("type")) != CASH_ON_DELIVERY
    status = CANCELLED if _str(form.get("status")) == CANCELLED else (
        text(form, "fulfillment", "status") or "NEW")
    method = " / ".join(p for p in (_str(payment.get("type")), _str(payment.get("provider"))) if p)
    return Order(
        external_id=external_id,
        status=status,
        currency=currency or "PLN",
        total_gross=total,
        shipping_gross=shipping,
        is_paid=paid,
        ordered_at=min(bought) if bought else modified,
        modified_at=modified,
        customer=parse_customer(form),
        lines=tuple(lines),
        payment_method=method or None,
        shipping_method=text(delivery, "method", "name") or None,
        notes=_str(form.get("messageToSeller")) or None,
    )


def _total(form: Json, lines: list[OrderLine]) -> tuple[Decimal, str]:
    summary = _obj(_obj(form.get("summary")).get("totalToPay"))
    if summary:
        return money(summary, "summary.totalToPay")
    # No summary (older forms): the lines plus delivery, in the lines' currency.
    delivery = _obj(form.get("delivery")).get("cost")
    shipping, currency = money(delivery, "delivery cost") if delivery else (Decimal(0), "")
    total = sum((line.unit_price_gross * line.quantity for line in lines), Decimal(0)) + shipping
    first = _obj(_obj((form.get("lineItems") or [{}])[0]).get("price")).get("currency")
    return total.quantize(CENT), _str(first).upper() or currency


def _lines(items: Any) -> tuple[list[OrderLine], list[datetime]]:
    if items is None:
        return [], []
    if not isinstance(items, list):
        raise MappingError("lineItems is not a list")
    lines: list[OrderLine] = []
    bought: list[datetime] = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise MappingError(f"line {n} is not an object")
        offer = _obj(item.get("offer"))
        # The seller's SKU is the offer's external id ("sygnatura"); a line without one keeps
        # an empty SKU and its name: the ERP stores it unmatched, with a warning.
        sku = text(offer, "external", "id")
        name = _str(offer.get("name")) or sku
        raw_quantity = item.get("quantity")
        try:
            quantity = Decimal(str(raw_quantity))
        except InvalidOperation:
            raise MappingError(
                f"line {n}: quantity {str(raw_quantity)[:20]!r} is not a number") from None
        if isinstance(raw_quantity, bool) or not plausible(quantity) or quantity <= 0:
            raise MappingError(f"line {n}: quantity {str(raw_quantity)[:20]!r} is out of range")
        price, _ = money(item.get("price"), f"line {n} price")
        lines.append(OrderLine(sku=sku, name=name, quantity=quantity, unit_price_gross=price))
        if item.get("boughtAt"):
            bought.append(timestamp(item.get("boughtAt"), f"line {n} boughtAt"))
    return lines, bought


def parse_customer(form: Json) -> Customer:
    """The buyer; the invoice address (with the NIP) when an invoice was asked for, else the
    buyer's own address, else where the parcel goes."""
    buyer = _obj(form.get("buyer"))
    delivery = _obj(_obj(form.get("delivery")).get("address"))
    invoice = _obj(form.get("invoice"))
    billing = _obj(invoice.get("address")) if invoice.get("required") is True else {}
    company = _obj(billing.get("company"))
    person = _obj(billing.get("naturalPerson"))
    address = billing or _obj(buyer.get("address")) or delivery
    first, last = (_first(key, person, buyer, delivery) for key in ("firstName", "lastName"))
    return Customer(
        email=_str(buyer.get("email")),
        first_name=first,
        last_name=last,
        company=_str(company.get("name")) or _str(buyer.get("companyName")) or None,
        tax_id=_str(company.get("taxId")) or None,
        phone=_str(buyer.get("phoneNumber")) or _str(delivery.get("phoneNumber")) or None,
        street=_str(address.get("street")),
        city=_str(address.get("city")),
        postcode=_str(address.get("zipCode")) or _str(address.get("postCode")),
        country_code=(_str(address.get("countryCode")) or "PL").upper(),
    )


def _first(key: str, *sources: Json) -> str:
    """The first non-empty `key` among `sources`."""
    return next((value for value in (_str(s.get(key)) for s in sources) if value), "")


def revision(form: Any) -> str | None:
    value = _obj(form).get("revision")
    return value if isinstance(value, str) and value.strip() else None


# -- offers -------------------------------------------------------------------------------------


def offer_id(offer: Any) -> str:
    value = _obj(offer).get("id")
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    return ""


def offer_sku(offer: Any) -> str:
    return text(_obj(offer), "external", "id")


def offer_status(offer: Any) -> str:
    return text(_obj(offer), "publication", "status")


def ended_for_lack_of_stock(offer: Any) -> bool:
    """Allegro ended the offer itself because its stock ran out (`publication.endedBy`
    EMPTY_STOCK), not the seller (USER), an administrator, expiry or an error."""
    return text(_obj(offer), "publication", "endedBy") == "EMPTY_STOCK"


def parse_offer(offer: Json, *, ended_by_us: bool) -> Product:
    """An offer as a product: SKU = `external.id`, gross price, active unless the seller ended
    it (an offer we ended for lack of stock is still an active product)."""
    shop_id = offer_id(offer)
    if not shop_id:
        raise MappingError("the offer has no id")
    price, currency = money(_obj(offer.get("sellingMode")).get("price"), "sellingMode.price")
    if currency and currency != "PLN":
        raise MappingError(f"the offer's price is in {currency}, not PLN")
    status = offer_status(offer)
    return Product(
        sku=offer_sku(offer),
        name=_str(offer.get("name")),
        price_gross=price,
        is_active=status in ("ACTIVE", "ACTIVATING") or ended_by_us,
        shop_id=shop_id,
    )


def offer_patch(product: Product) -> Json:
    """What an export changes in an existing offer: its title and price (the SKU stays)."""
    name = product.name.strip()
    if not name:
        raise MappingError("the product has no name")
    if len(name) > MAX_NAME:
        raise MappingError(f"the name is {len(name)} characters long; Allegro titles take at "
                           f"most {MAX_NAME}")
    if not plausible(product.price_gross) or product.price_gross <= 0:
        raise MappingError(f"price {product.price_gross} cannot be an offer's price")
    return {
        "name": name,
        "sellingMode": {"price": {"amount": str(product.price_gross.quantize(CENT)),
                                  "currency": "PLN"}},
    }


def command_body(offer_ids: list[str], modification: Json, key: str = "modification") -> Json:
    """An offer command over these offers (`offerCriteria` of type CONTAINS_OFFERS)."""
    return {key: modification,
            "offerCriteria": [{"offers": [{"id": i} for i in offer_ids],
                               "type": "CONTAINS_OFFERS"}]}


def task_results(tasks: Any) -> dict[str, tuple[str, str]]:
    """A command report's tasks → offer id → (status, message)."""
    found: dict[str, tuple[str, str]] = {}
    if not isinstance(tasks, list):
        raise MappingError("the report's tasks are not a list")
    for task in tasks:
        task = _obj(task)
        offer = offer_id(task.get("offer"))
        if offer:
            # The reason is in `message`, or in `errors[]` (Error: code, message, userMessage).
            listed = task.get("errors")
            errors: list[Any] = listed if isinstance(listed, list) else []
            reasons = [_str(task.get("message"))] + [
                _str(_obj(e).get("userMessage")) or _str(_obj(e).get("message")) for e in errors]
            found[offer] = (_str(task.get("status")).upper(),
                            "; ".join(r for r in reasons if r)[:500])
    return found
