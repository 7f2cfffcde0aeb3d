"""IdoSell Admin API v6 payloads ⇄ domain types (the OCA "mapper").

Shapes follow the OpenAPI operations in mozan/idosell-python `src/idosell/oms/SPECS_v6.md`
(orders/orders/search, PUT orders/orders), `pim/products/product/SPECS_v6.md`
(products/products/search, PUT products/products) and `pim/products/SPECS_v6.md`
(PUT products/stockQuantity). Numbers are JSON numbers (read through `repr`, so 24.6 stays
24.60), dates are naive `YYYY-MM-DD HH:MM:SS` in the shop's zone.

An order's buyer is `clientResult` (account e-mail, billing address), its money
`orderDetails.payments.orderCurrency`, its lines `orderDetails.productsResults`. A product's
SKU is the external code of its one size (`productSizesAttributes[].productSizeCodeExternal`),
the code stock writes address it by.

Lenient where the ERP row stays right (issue 11): a guest without e-mail, a line without name
or code, an odd country code, a product without name or SKU pass through with "" and the
engine decides. Missing is not malformed: a field of the wrong type is still a `MappingError`.
A `MappingError` is raised only where the ERP row would be wrong: no serial
number, no readable placing date, money or quantities that cannot be read, a currency that is
no ISO code, a product with several sizes (one SKU per ERP product) — see
docs/fidelity/idosell.md "Refusals".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from workers.domain import Customer, Order, OrderLine, Product, StatusChange, StockQuantity
from workers.shops import localtime
from workers.shops.numbers import plausible

CENT = Decimal("0.01")
#: The language names and descriptions are read in and written to (ISO 639-2, as IdoSell).
LANGUAGE = "pol"
#: The warehouse stock is written to: M1, the shop's own main stock.
STOCK_ID = 1
#: Order statuses the API documents (`orderStatus`); nothing else can be sent.
ORDER_STATUSES = frozenset({
    "new", "finished", "finished_ext", "payment_waiting", "delivery_waiting", "on_order",
    "packed", "packed_fulfillment", "packed_ready", "ready", "wait_for_dispatch", "suspended",
    "joined", "missing", "lost", "false", "canceled",
})
#: Payments that count towards "paid" (refunds and fees do not), and the status of a settled
#: one. The spec leaves `paymentStatus` values undocumented; IdoSell flags are "y"/"n".
PAID_TYPES = frozenset({"payment", "advance"})
SETTLED = "y"


class MappingError(ValueError):
    """One payload item does not have the documented shape; the message says what is wrong."""


# -- primitive readers ------------------------------------------------------------------------


def obj(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MappingError(f"{key} is not an object")
    return value


def text(payload: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = payload.get(key)
    if value is None or value == "":
        if required:
            raise MappingError(f"missing {key}")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MappingError(f"{key} is not text: {value!r}")
    return str(value).strip()


def number(payload: Mapping[str, Any], key: str, *, default: Decimal | None = None) -> Decimal:
    value = payload.get(key)
    if value is None or value == "":
        if default is not None:
            return default
        raise MappingError(f"missing {key}")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MappingError(f"{key} is not a number: {value!r}")
    try:
        result = Decimal(value.strip()) if isinstance(value, str) else Decimal(repr(value))
    except InvalidOperation:
        raise MappingError(f"{key} is not a number: {value!r}") from None
    if not plausible(result):  # NaN, Infinity, 1e30: see workers.shops.numbers
        raise MappingError(f"{key} is not a usable number: {value!r:.60}")
    return result


def _list(value: Any) -> list[Any]:
    """A list field, or nothing: `or ()` would iterate a number (TypeError) or a string."""
    return value if isinstance(value, list) else []


def _ascii_digits(text: str) -> bool:
    """Digits int() accepts: "²" and "١" pass str.isdigit() but not int()."""
    return text.isascii() and text.isdigit()


def local_time(payload: Mapping[str, Any], key: str, zone: ZoneInfo) -> datetime:
    value = text(payload, key, required=True)
    try:
        return localtime.to_utc(localtime.parse_local(value), zone)
    except ValueError:
        raise MappingError(f"{key} is not a date: {value!r}") from None


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, ROUND_HALF_UP)


def serial(payload: Any) -> int:
    """An order's `orderSerialNumber` (the number status writes address it by)."""
    if not isinstance(payload, Mapping):
        raise MappingError(f"order is not an object: {type(payload).__name__}")
    value = payload.get("orderSerialNumber")
    if isinstance(value, bool) or not isinstance(value, int | str) \
            or not _ascii_digits(str(value)) or int(value) <= 0:
        raise MappingError(f"orderSerialNumber is not a positive number: {value!r}")
    return int(value)


def order_key(payload: Any) -> str:
    try:
        return str(serial(payload))
    except MappingError:
        return "?"


def change_date(payload: Any) -> str:
    """`orderDetails.orderChangeDate` as sent (sortable wire text), "" when unusable."""
    if not isinstance(payload, Mapping):
        return ""
    details = payload.get("orderDetails")
    value = details.get("orderChangeDate") if isinstance(details, Mapping) else None
    return value if isinstance(value, str) else ""


# -- orders -----------------------------------------------------------------------------------


def parse_order(payload: Any, zone: ZoneInfo) -> Order:
    """One element of `orders/orders/search` → `Results` → Order."""
    number_ = serial(payload)
    details = obj(payload, "orderDetails")
    status = text(details, "orderStatus")
    money = obj(obj(details, "payments"), "orderCurrency")
    products = number(money, "orderProductsCost")
    shipping = number(money, "orderDeliveryCost", default=Decimal(0))
    total = products + shipping + number(money, "orderPayformCost", default=Decimal(0)) + \
        number(money, "orderInsuranceCost", default=Decimal(0))
    currency = text(money, "currencyId", required=True).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise MappingError(f"currencyId is not an ISO code: {currency!r}")
    lines = _list(details.get("productsResults"))
    ordered_at = local_time(details, "orderAddDate", zone)
    return Order(
        external_id=str(number_),
        external_number=text(payload, "orderId") or str(number_),
        status=status,
        currency=currency,
        total_gross=cents(total),
        shipping_gross=cents(shipping),
        is_paid=_is_paid(details, total),
        ordered_at=ordered_at,
        modified_at=_changed_at(details, ordered_at, zone),
        customer=_customer(obj(payload, "clientResult")),
        lines=tuple(_line(line, n) for n, line in enumerate(lines, 1)),
        payment_method=_payment_method(details),
        shipping_method=text(obj(details, "dispatch"), "courierName") or None,
        notes=text(details, "clientNoteToOrder") or None,
    )


def _changed_at(details: Mapping[str, Any], ordered_at: datetime, zone: ZoneInfo) -> datetime:
    """`orderChangeDate`, or the placing date when it is missing."""
    if details.get("orderChangeDate") in (None, ""):
        return ordered_at
    return max(ordered_at, local_time(details, "orderChangeDate", zone))


def _is_paid(details: Mapping[str, Any], total: Decimal) -> bool:
    """Settled payments (minus settled refunds) cover the order's value."""
    paid = Decimal(0)
    for prepaid in _list(details.get("prepaids")):
        if not isinstance(prepaid, Mapping) or text(prepaid, "paymentStatus") != SETTLED:
            continue
        value = number(prepaid, "paymentValue", default=Decimal(0))
        kind = text(prepaid, "paymentType") or "payment"
        if kind in PAID_TYPES:
            paid += value
        elif kind == "repayment":
            paid -= abs(value)
    return total > 0 and paid >= cents(total)


def _payment_method(details: Mapping[str, Any]) -> str | None:
    for prepaid in _list(details.get("prepaids")):
        if isinstance(prepaid, Mapping) and text(prepaid, "payformName"):
            return text(prepaid, "payformName")
    return text(obj(details, "payments"), "orderPaymentType") or None


def _customer(client: Mapping[str, Any]) -> Customer:
    """The buyer: account e-mail, billing address. A guest without e-mail gets `email=""`
    (the engine matches such a buyer by name and address); the country is passed as given."""
    account = obj(client, "clientAccount")
    billing = obj(client, "clientBillingAddress")
    return Customer(
        email=text(account, "clientEmail").lower(),
        first_name=text(billing, "clientFirstName"),
        last_name=text(billing, "clientLastName"),
        company=text(billing, "clientFirm") or None,
        tax_id=text(billing, "clientNip") or None,
        phone=(text(billing, "clientPhone1") or text(account, "clientPhone1")
               or None),
        street=text(billing, "clientStreet"),
        city=text(billing, "clientCity"),
        postcode=text(billing, "clientZipCode"),
        country_code=text(billing, "clientCountryId"),
    )


def _line(line: Any, index: int) -> OrderLine:
    if not isinstance(line, Mapping):
        raise MappingError(f"line {index} is not an object")
    try:
        quantity = number(line, "productQuantity")
        if quantity < 0:
            raise MappingError(f"quantity is negative: {quantity}")
        price = number(line, "productOrderPrice")
        vat = line.get("productVat")
        return OrderLine(
            sku=(text(line, "productSizeCodeExternal")
                 or text(line, "productCode")),
            name=text(line, "productName"),
            quantity=quantity,
            unit_price_gross=cents(price),
            vat_rate=None if vat in (None, "") else number(line, "productVat").quantize(CENT),
        )
    except MappingError as exc:
        raise MappingError(f"line {index}: {exc}") from None


def status_item(change: StatusChange) -> dict[str, Any]:
    """StatusChange → one element of `PUT orders/orders` `params.orders`."""
    status = change.shop_status.strip()
    if status not in ORDER_STATUSES:
        raise MappingError(f"{change.shop_status!r} is not an IdoSell order status (one of "
                           f"{', '.join(sorted(ORDER_STATUSES))})")
    return {"orderSerialNumber": _positive(change.external_id, "order serial number"),
            "orderStatus": status}


# -- products ---------------------------------------------------------------------------------


def product_key(payload: Any) -> str:
    if isinstance(payload, Mapping) and payload.get("productId") not in (None, ""):
        return str(payload["productId"])
    return "?"


def modification_time(payload: Any) -> str:
    value = payload.get("productModificationTime") if isinstance(payload, Mapping) else None
    return value if isinstance(value, str) else ""


def size_codes(payload: Any) -> list[str]:
    """The external codes of a product's sizes (its SKUs), product-level code as fallback."""
    if not isinstance(payload, Mapping):
        return []
    # _code, not str(): str() of a list or an object would make a SKU out of its repr.
    codes = [_code(size.get("productSizeCodeExternal"))
             for size in _list(payload.get("productSizesAttributes"))
             if isinstance(size, Mapping)]
    codes = [code for code in codes if code]
    if not codes and _code(payload.get("productDisplayedCode")):
        codes = [_code(payload["productDisplayedCode"])]
    return codes


def _code(value: Any) -> str:
    """A code as text: strings and numbers only, anything else counts as absent."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()


def parse_product(payload: Any, zone: ZoneInfo) -> Product:
    """One element of `products/products/search` → `results` → Product (gross price)."""
    if not isinstance(payload, Mapping):
        raise MappingError(f"product is not an object: {type(payload).__name__}")
    product_id = _positive(payload.get("productId"), "productId")
    sizes = [s for s in _list(payload.get("productSizesAttributes")) if isinstance(s, Mapping)]
    if len(sizes) > 1:
        raise MappingError(f"product has {len(sizes)} sizes; one SKU per product is imported")
    for holder, key in [(size, "productSizeCodeExternal") for size in sizes] + [
            (payload, "productDisplayedCode")]:
        text(holder, key)  # a code of the wrong type is malformed, not a missing SKU
    codes = size_codes(payload)
    texts = _lang_texts(payload.get("productDescriptionsLangData"))
    name = texts.get("productName", "").strip()
    price = number(payload, "productRetailPrice")
    if price < 0:
        raise MappingError(f"productRetailPrice is negative: {price}")
    weight = number(payload, "productWeight", default=Decimal(0))
    producer = _code(sizes[0].get("productSizeCodeProducer")) if sizes else ""
    vat = payload.get("productVat")
    return Product(
        shop_id=str(product_id),
        sku=codes[0] if codes else "",  # no SKU: the engine lists it as needing attention
        name=name,
        description=texts.get("productLongDescription") or texts.get("productDescription") or None,
        price_gross=cents(price),
        vat_rate=None if vat in (None, "") else number(payload, "productVat").quantize(CENT),
        ean=producer or None,
        weight_kg=(weight / 1000).normalize() if weight > 0 else None,  # grams in IdoSell
        is_active=str(payload.get("productIsVisible", "y")).strip() == "y",
        modified_at=_optional_time(payload, "productModificationTime", zone),
    )


def _optional_time(payload: Mapping[str, Any], key: str, zone: ZoneInfo) -> datetime | None:
    return None if payload.get(key) in (None, "") else local_time(payload, key, zone)


def _lang_texts(entries: Any) -> dict[str, str]:
    """The Polish entry of `productDescriptionsLangData` (the first one when there is none)."""
    if not isinstance(entries, list):
        return {}
    usable = [e for e in entries if isinstance(e, Mapping)]
    chosen = next((e for e in usable if e.get("langId") == LANGUAGE), usable[0] if usable else {})
    return {k: v for k, v in chosen.items() if isinstance(v, str)}


def product_item(product: Product, *, with_id: bool) -> dict[str, Any]:
    """Product → one element of `PUT products/products` `params.products`.

    The SKU goes to the size's external code (what stock writes and lookups address) and to the
    displayed code; EAN to the size's producer code. Prices are gross, weights in grams.
    """
    sku = product.sku.strip()
    if not sku:
        raise MappingError("product has no SKU")
    if product.price_gross < 0:
        raise MappingError(f"negative price {product.price_gross}")
    item: dict[str, Any] = {
        "productSizeCodeExternal": sku,
        "productDisplayedCode": sku,
        "productSizeCodeProducer": (product.ean or "").strip(),
        "productRetailPrice": float(cents(product.price_gross)),
        "productWeight": _grams(product),
        "productInVisible": "y" if product.is_active else "n",
        "productNames": {"productNamesLangData": [
            {"langId": LANGUAGE, "productName": product.name}]},
        "productLongDescriptions": {"productLongDescriptionsLangData": [
            {"langId": LANGUAGE, "productLongDescription": product.description or ""}]},
    }
    if product.vat_rate is not None:
        item["productVat"] = float(product.vat_rate)
    if with_id:
        item = {"productId": _positive(product.shop_id, "IdoSell product id"), **item}
    return item


def _grams(product: Product) -> int:
    if product.weight_kg is None:
        return 0
    if product.weight_kg < 0:
        raise MappingError(f"negative weight {product.weight_kg}")
    return int((product.weight_kg * 1000).to_integral_value(ROUND_HALF_UP))


def stock_item(quantity: StockQuantity) -> dict[str, Any]:
    """StockQuantity → one element of `PUT products/stockQuantity` `params.products`."""
    if quantity.quantity < 0:
        raise MappingError(f"negative stock quantity {quantity.quantity}")
    if not quantity.sku.strip():
        raise MappingError("stock without a SKU")
    return {"productSizeCodeExternal": quantity.sku.strip(), "stockId": STOCK_ID,
            "productSizeQuantity": int(quantity.quantity)}


def _positive(value: Any, what: str) -> int:
    text_ = str(value if value is not None else "").strip()
    if not _ascii_digits(text_) or int(text_) <= 0:
        raise MappingError(f"not an {what}: {value!r}")
    return int(text_)


# -- answers ----------------------------------------------------------------------------------


def fault(item: Any) -> str | None:
    """The one-line failure of one result item (`faultCode`/`faultString`, or `faults[]`),
    None when it succeeded (code 0 or none)."""
    if not isinstance(item, Mapping):
        return f"unexpected result {item!r:.80}"
    entries: list[Mapping[str, Any]] = []
    if item.get("faultCode") not in (None, 0, "0", ""):
        entries.append(item)
    entries += [f for f in _list(item.get("faults")) if isinstance(f, Mapping)
                and f.get("faultCode") not in (None, 0, "0", "")]
    if not entries:
        return None
    return "; ".join(f"{e.get('faultCode')}: {' '.join(str(e.get('faultString') or '').split())}"
                     .rstrip(": ") for e in entries)


def owner_of_code(item: Any) -> str | None:
    """The product already carrying the code a create asked for (`existingCodes`)."""
    if not isinstance(item, Mapping):
        return None
    for detail in _list(item.get("productResultDetails")):
        if isinstance(detail, Mapping):
            for owner in _list(detail.get("existingCodes")):
                if isinstance(owner, Mapping) and _ascii_digits(str(owner.get("productId") or "")):
                    return str(owner["productId"])
    return None


def result_list(data: Any, *path: str) -> list[Any]:
    """`data[path...]` as a list (a write's per-item results); MappingError when absent."""
    node = data
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, list):
        raise MappingError(f"answer has no {'.'.join(path)} list")
    return node


def error_detail(body: Any) -> tuple[str | None, str | None]:
    """`{"errors": {"faultCode": 2, "faultString": "…"}}` (also a list of them) → code, text."""
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(errors, list):
        errors = errors[0] if errors else None
    if not isinstance(errors, Mapping):
        return None, None
    code = errors.get("faultCode")
    message = errors.get("faultString")
    return (None if code in (None, "") else str(code),
            None if message in (None, "") else " ".join(str(message).split()))


def is_empty_result(body: Any) -> bool:
    """"No results" comes back as fault 2 ("… returned an empty result") instead of a list."""
    code, _ = error_detail(body)
    return code == "2" and not (isinstance(body, Mapping) and
                                (body.get("Results") or body.get("results")))


def rows_of(data: Any, key: str) -> tuple[list[Any], int]:
    """(rows, resultsNumberAll) of a search answer; `key` is "Results" (orders) or "results"
    (products) — the two searches differ in case."""
    if data is None or is_empty_result(data):
        return [], 0
    if not isinstance(data, Mapping):
        raise MappingError("search answer is not an object")
    rows = data.get(key)
    if rows is None and data.get("resultsNumberAll") in (0, "0"):
        return [], 0
    if not isinstance(rows, list):
        code, message = error_detail(data)
        if code:
            raise MappingError(f"search failed: {code}: {message}")
        raise MappingError(f"search answer has no {key} list")
    total = data.get("resultsNumberAll")
    try:
        count = int(total) if total is not None else len(rows)
    except (TypeError, ValueError):
        raise MappingError(f"resultsNumberAll is not a number: {total!r}") from None
    return rows, count


def sku_chunks(skus: Sequence[str], size: int) -> list[list[str]]:
    return [list(skus[i:i + size]) for i in range(0, len(skus), size)]
