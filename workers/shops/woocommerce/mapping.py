"""WooCommerce REST v3 payloads ⇄ domain types (the OCA "mapper").

Lenient where the ERP row can still be right (issue 11): an order line without a name or SKU, a
guest without e-mail, an odd country code, a product without name or SKU all map (the engine
decides and warns). A `MappingError` (an `ItemError` for that one item, keyed by its shop id) is
left only for what would make the ERP row wrong: no id, amounts or a currency that cannot be
read, no readable creation date (the list, with reasons, is in docs/fidelity/woocommerce.md).
Money arrives as decimal strings and stays exact; times are read from the `*_gmt` fields (naive
UTC) and returned timezone-aware.

Text fields travel through `shop_text` / `erp_text`: WooCommerce stores names and descriptions
through `wp_filter_post_kses()`, which would eat a bare `<` and rewrite a bare `&`; we send a form
kses leaves as it is and map the stored form back to exactly what the ERP wrote.

Shapes follow `woocommerce/woocommerce-rest-api-docs:source/includes/wp-api-v3/_orders.md` and
`_products.md`, and the order/product schemas in `Controllers/Version2|3` of
woocommerce/woocommerce.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
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
_RATE_STEPS = (Decimal(1), Decimal("0.5"), Decimal("0.1"), Decimal("0.01"))


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


def _raw_text(payload: Mapping[str, Any], key: str) -> str:
    """A string field as it is (not stripped); "" when absent or null. Another type is not a
    missing value but a payload of the wrong shape: a MappingError."""
    return _text(payload, key)


def _soft_text(payload: Mapping[str, Any], key: str) -> str | None:
    """An optional string field, stripped; None when absent, null or blank."""
    return _text(payload, key).strip() or None


def _required_gmt(payload: Mapping[str, Any], key: str) -> datetime:
    moment = _gmt(payload, key)
    if moment is None:  # _gmt raises for a missing required date; this is for the type checker
        raise MappingError(f"missing {key}")
    return moment


def _lenient_gmt(payload: Mapping[str, Any], key: str) -> datetime | None:
    """An optional `*_gmt` field; None when absent or unreadable."""
    try:
        return _gmt(payload, key, required=False)
    except MappingError:
        return None


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
            return parsed.astimezone(UTC)
        except OverflowError:  # "0001-01-01T00:00:00+01:00" has no UTC reading
            raise MappingError(f"{key} is out of range: {value!r}") from None
    return parsed.replace(tzinfo=UTC)


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


# -- text as WooCommerce stores it -----------------------------------------------------------
#
# WC_REST_Products_Controller::prepare_object_for_database writes name, description and short
# description through wp_filter_post_kses() (= stripslashes, then wp_kses(…, 'post')). kses turns a
# bare `&` into `&amp;`, a lone `>` into `&gt;`, drops anything from `<` to the next `>` that is
# not an allowed tag ("5 < 7 > 3" becomes "5  3"), rebuilds allowed tags from their attributes,
# and stripslashes eats every backslash. So we send a form kses leaves exactly as it is — every
# `&` as `&amp;`, every backslash as `&#92;`, every `<`/`>` as `&lt;`/`&gt;` except in tags that
# kses keeps byte for byte — and `erp_text` maps the stored form back. The mapping is injective
# (every `&` of the ERP text is escaped), so a round trip is exact whichever way the shop stores
# it: through kses, or as sent.

#: Elements in WordPress's `$allowedposttags` (wp-includes/kses.php) that we let through as markup.
_POST_TAGS = frozenset(
    ["a", "abbr", "address", "article", "aside", "b", "bdo", "big", "blockquote", "br", "caption",
     "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em",
     "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "i",
     "img", "ins", "kbd", "li", "main", "mark", "nav", "ol", "p", "pre", "q", "s", "samp",
     "section", "small", "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody",
     "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var"])
#: Attributes kses keeps as written (for these elements; `*` = the global ones WordPress adds to
#: every allowed element in `_wp_add_global_attributes`). `style` is left out: safecss rewrites it.
_KEPT_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "*": frozenset({"class", "id", "title", "lang", "dir", "role"}),
    "a": frozenset({"href", "target", "rel", "name"}),
    "img": frozenset({"src", "alt", "width", "height"}),
}
_URI_ATTRIBUTES = frozenset({"href", "src"})
_SAFE_PROTOCOL = re.compile(r"^(https?://|mailto:)[^\s]*$", re.IGNORECASE)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)((?: [a-z]+=\"[^\"&<>\\\n]*\")*)( /)?>")
_ATTRIBUTE = re.compile(r' ([a-z]+)="([^"]*)"')
_STORED = re.compile(r"&(amp|lt|gt|#92);|<!--iluo:([0-9a-f]{2})-->")
_ENTITY_TEXT = {"amp": "&", "lt": "<", "gt": ">", "#92": "\\"}
#: What wp_kses_no_null removes; no entity survives kses for these either (valid_unicode).
_CONTROL = re.compile(r"([\x00-\x08\x0b\x0c\x0e-\x1f])")


def shop_text(text: str, *, markup: bool) -> str:
    """ERP text → what we send: a fixpoint of wp_filter_post_kses (see above). With `markup`,
    tags kses keeps unchanged stay markup; every other `<`/`>` is sent as an entity. A control
    character (a vertical tab pasted from a word processor) travels as an HTML comment
    `<!--iluo:0b-->`, which kses keeps and no ERP text can produce (its `<` would be escaped)."""
    pieces = _CONTROL.split(text)
    return "".join(
        _shop_segment(piece, markup=markup) if n % 2 == 0 else f"<!--iluo:{ord(piece):02x}-->"
        for n, piece in enumerate(pieces))


def _shop_segment(text: str, *, markup: bool) -> str:
    escaped = text.replace("&", "&amp;").replace("\\", "&#92;")
    if not markup:
        return escaped.replace("<", "&lt;").replace(">", "&gt;")
    out: list[str] = []
    position = 0
    for found in _TAG.finditer(escaped):
        out.append(_escape_angles(escaped[position:found.start()]))
        token = found.group(0)
        out.append(token if _kses_keeps(found) else _escape_angles(token))
        position = found.end()
    out.append(_escape_angles(escaped[position:]))
    return "".join(out)


def erp_text(stored: str) -> str:
    """Stored text (read with context=edit) → the ERP's text: the inverse of `shop_text`."""
    return _STORED.sub(
        lambda m: _ENTITY_TEXT[m.group(1)] if m.group(1) else chr(int(m.group(2), 16)), stored)


def _escape_angles(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _kses_keeps(tag: re.Match[str]) -> bool:
    """Would kses give this tag back byte for byte? (Allowed element; closing tags bare;
    attributes lower-case, double-quoted, allowed for the element, URIs http(s)/mailto.)"""
    closing, element, attributes, slash = tag.group(1), tag.group(2).lower(), *tag.group(3, 4)
    if element not in _POST_TAGS or (closing and (attributes or slash)):
        return False
    allowed = _KEPT_ATTRIBUTES["*"] | _KEPT_ATTRIBUTES.get(element, frozenset())
    names = []
    for name, value in _ATTRIBUTE.findall(attributes):
        if name not in allowed or (name in _URI_ATTRIBUTES and not _SAFE_PROTOCOL.match(value)):
            return False
        names.append(name)
    return len(names) == len(set(names))  # kses keeps only the first of a repeated attribute


_GTIN = re.compile(r"[0-9-]*[0-9Xx]?")


def wc_clean_problem(sku: str) -> str | None:
    """Why WooCommerce would store this SKU differently, or None when it keeps it as sent.

    The SKU is written through `wc_clean()` = `sanitize_text_field()`: tags stripped, line
    breaks and runs of whitespace folded to one space, `%xx` octets removed, trimmed."""
    if sku != sku.strip():
        return "has leading or trailing spaces, which WooCommerce trims"
    if re.search(r"[\r\n\t]|  ", sku):
        return "has line breaks, tabs or double spaces, which WooCommerce folds"
    if re.search(r"%[0-9a-fA-F]{2}", sku):
        return "has a %xx sequence, which WooCommerce removes"
    if "<" in sku:
        return "has a '<', which WooCommerce's tag stripping changes"
    return None


# -- orders -----------------------------------------------------------------------------------


def parse_order(payload: Any) -> Order:
    """One element of `GET orders` → Order. Raises MappingError with a one-line reason."""
    if not isinstance(payload, Mapping):
        raise MappingError(f"order is not an object: {type(payload).__name__}")
    order_id = _id(payload)
    status = _text(payload, "status", required=True)
    date_paid = _lenient_gmt(payload, "date_paid_gmt")
    # Always in WooCommerce's answer (an empty list for a fees-only order). Absent: an order
    # without lines, which the ERP can hold; the engine warns (`no_lines`).
    lines = payload.get("line_items")
    if lines is None:
        lines = []
    if not isinstance(lines, list):
        raise MappingError("line_items is not a list")
    rates = _tax_rates(payload)
    ordered_at = _required_gmt(payload, "date_created_gmt")
    return Order(
        external_id=str(order_id),
        external_number=_optional_text(payload, "number") or str(order_id),
        status=status,
        currency=_currency(payload),
        total_gross=_money(payload, "total"),
        shipping_gross=(_money(payload, "shipping_total", default=Decimal(0))
                        + _money(payload, "shipping_tax", default=Decimal(0))),
        is_paid=date_paid is not None or status in PAID_STATUSES,
        ordered_at=ordered_at,
        # An unreadable modification date is not worth refusing the order: the creation date
        # is what the ERP keeps, and the cursor only needs some time (paging reads its own).
        modified_at=_lenient_gmt(payload, "date_modified_gmt") or ordered_at,
        customer=_customer(payload),
        lines=(*(_line(line, n, rates) for n, line in enumerate(lines, 1)),
               *_fee_lines(payload, rates)),
        payment_method=(_soft_text(payload, "payment_method_title")
                        or _soft_text(payload, "payment_method")),
        shipping_method=_shipping_method(payload),
        notes=_soft_text(payload, "customer_note"),
    )


def _currency(payload: Mapping[str, Any]) -> str:
    currency = _text(payload, "currency", required=True).strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise MappingError(f"currency is not an ISO code: {currency!r}")
    return currency


def _customer(payload: Mapping[str, Any]) -> Customer:
    """The buyer from `billing`. A guest without e-mail (an order typed in the admin or posted
    over REST) gets `email=""`: the engine matches by name + address. Missing address fields
    are "" rather than a refusal; a field of the wrong JSON type is still a MappingError."""
    raw = payload.get("billing")
    if raw is not None and not isinstance(raw, Mapping):
        raise MappingError("billing is not an object")
    billing: Mapping[str, Any] = raw or {}
    street = " ".join(part for part in (_soft_text(billing, "address_1") or "",
                                         _soft_text(billing, "address_2") or "") if part)
    return Customer(
        email=(_soft_text(billing, "email") or "").lower(),
        first_name=_soft_text(billing, "first_name") or "",
        last_name=_soft_text(billing, "last_name") or "",
        company=_soft_text(billing, "company"),
        tax_id=_tax_id(payload),
        phone=_soft_text(billing, "phone"),
        street=street,
        city=_soft_text(billing, "city") or "",
        postcode=_soft_text(billing, "postcode") or "",
        # Passed through as given (stripped): the engine keeps what fits, else the shop's own.
        country_code=(_soft_text(billing, "country") or "").upper() or "PL",
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
        # A line posted over REST with a SKU the shop does not carry has product_id 0, no SKU
        # and an empty name (WC_REST_Orders_V2_Controller::prepare_line_items): "" for both,
        # the engine fills in the SKU or "(no name)" and warns.
        return OrderLine(
            sku=_soft_text(line, "sku") or "",
            name=_soft_text(line, "name") or "",
            quantity=quantity,
            unit_price_gross=((total + total_tax) / quantity).quantize(CENT, ROUND_HALF_UP),
            vat_rate=_line_vat_rate(line, total, total_tax, rates),
        )
    except MappingError as exc:
        raise MappingError(f"line {number}: {exc}") from None


def _fee_lines(payload: Mapping[str, Any], rates: Mapping[Any, Decimal]) -> list[OrderLine]:
    """`fee_lines` with a positive amount (a COD or packing fee) as lines without SKU: they are
    part of `total` and carry their own tax (`total_tax`, `taxes`). A negative fee is a discount
    already inside `total`; like coupons (whose discount is already in each line's `total`) it
    is no line of its own. Refunds are separate objects (`refunds[]`), never lines."""
    fees: list[OrderLine] = []
    for number, fee in enumerate(_list(payload.get("fee_lines")), 1):
        if not isinstance(fee, Mapping):
            raise MappingError(f"fee {number} is not an object")
        try:
            total = _money(fee, "total")
            total_tax = _money(fee, "total_tax", default=Decimal(0))
        except MappingError as exc:
            raise MappingError(f"fee {number}: {exc}") from None
        if total + total_tax <= 0:
            continue
        fees.append(OrderLine(
            sku="", name=_soft_text(fee, "name") or "", quantity=Decimal(1),
            unit_price_gross=(total + total_tax).quantize(CENT, ROUND_HALF_UP),
            vat_rate=_line_vat_rate(fee, total, total_tax, rates)))
    return fees


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
    return Product(
        shop_id=str(product_id),
        # No SKU or no name: "" and the engine lists the product as needing attention.
        sku=_soft_text(payload, "sku") or "",
        name=erp_text(_soft_text(payload, "name") or ""),
        # Read with context=edit: the stored text, not the `wpautop()` rendering.
        description=erp_text(_raw_text(payload, "description")) or None,
        price_gross=_product_price(payload),
        # Absent before WooCommerce 9.2 (no such field): None keeps the ERP's EAN.
        ean=_soft_text(payload, "global_unique_id"),
        weight_kg=_weight(payload),
        is_active=_text(payload, "status", required=True) == "publish",
        modified_at=_lenient_gmt(payload, "date_modified_gmt"),
    )


def _weight(payload: Mapping[str, Any]) -> Decimal | None:
    """The weight, or None (the ERP keeps its own) when empty or not a usable number."""
    text = _soft_text(payload, "weight")
    if text is None:
        return None
    try:
        weight = _decimal(text, "weight")
    except MappingError:  # free text in the weight box ("ok. 2 kg"): the ERP keeps its own
        return None
    return weight if weight >= 0 else None


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
    sku_problem = wc_clean_problem(product.sku)
    if sku_problem:
        # The shop would store another SKU than the ERP's; binding and import would then
        # disagree with the ERP forever (see wc_clean_problem).
        raise MappingError(f"SKU {product.sku!r} {sku_problem}")
    if product.ean and not _GTIN.fullmatch(product.ean):
        # WC_Product::set_global_unique_id strips all but digits, hyphens and a final X (or
        # refuses the X elsewhere): the EAN would come home changed.
        raise MappingError(f"EAN {product.ean!r} has characters WooCommerce strips from a GTIN "
                           "(only digits, hyphens and a final X are kept)")
    payload: dict[str, Any] = {
        "sku": product.sku,
        "name": shop_text(product.name, markup=False),
        "description": shop_text(product.description or "", markup=True),
        "regular_price": format_money(product.price_gross),
        "status": "publish" if product.is_active else "draft",
        "weight": format_decimal(product.weight_kg) if product.weight_kg is not None else "",
        "global_unique_id": product.ean or "",
    }
    variation = variation_ref(product.shop_id) if with_id else None
    if variation is not None:
        # A variation's name is its parent's plus its attributes (no name of its own); its
        # "disabled" state is `private` (the admin's Enabled box), not `draft`.
        del payload["name"]
        payload["status"] = "publish" if product.is_active else "private"
        return {"id": variation[1], **payload}
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
    variation = variation_ref(quantity.shop_id)
    target = variation[1] if variation is not None else shop_int_id(quantity.shop_id)
    return {"id": target, "manage_stock": True, "stock_quantity": int(quantity.quantity)}


def variation_ref(shop_id: str | None) -> tuple[int, int] | None:
    """(parent id, variation id) of a shop id written `parent/variation`, else None.

    `GET products?sku=` also finds variations (ProductsV2::prepare_objects_query adds the
    product_variation post type), but `products/batch` refuses a variation id; it is written
    through `products/{parent}/variations/batch`, so the binding keeps both ids."""
    parent, slash, child = str(shop_id or "").partition("/")
    if not slash or not (is_shop_id(parent) and is_shop_id(child)):
        return None
    return int(parent), int(child)


def variation_shop_id(row: Mapping[str, Any]) -> str | None:
    """`parent/variation` for a variation row of a `products?sku=` answer, else None."""
    if row.get("type") != "variation" or not is_shop_id(row.get("parent_id")):
        return None
    return f"{row['parent_id']}/{row.get('id')}" if is_shop_id(row.get("id")) else None


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
    # Only a duplicate SKU names a product to bind to: a duplicate GTIN
    # (`product_invalid_global_unique_id`, WC_Product::set_global_unique_id) also carries a
    # `resource_id`, but that product has another SKU.
    owner_id = str(owner) if is_shop_id(owner) and code == "product_invalid_sku" else None
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
