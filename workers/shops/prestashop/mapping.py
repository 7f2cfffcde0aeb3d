"""PrestaShop Webservice payloads ⇄ domain types (the OCA "mapper").

Reads are JSON (`output_format=JSON`, src `classes/webservice/WebserviceOutputJSON.php`):
every field is a string except `id`; a multilingual field is a plain string when the shop has
one language and `[{"id": "1", "value": "…"}]` when it has several; an order's lines are
`associations.order_rows`. Writes are XML field maps for `xmlbody.document`.

What an order or a product means needs more than its own row, so parsing takes a context:
the order's customer, address, country, currency, carrier and state (`OrderRefs`), or the
shop's default language and tax rule groups (`Catalog`). Lenient where the ERP row can still be
right (issue 11): a missing customer row or e-mail, an empty line name or SKU, a product
without SKU or name, an odd country code are passed on for the engine to decide. Refused, as a
`MappingError` for that one item (kept for retry): a payload of the wrong shape, no id, totals,
prices, quantities or a currency that cannot be read, an unknown tax rule group, no readable
date, no order lines (docs/fidelity/prestashop.md lists each refusal and why).

Shapes: PrestaShop/docs `webservice/resources/orders.md`, `products.md`,
`stock_availables.md`, `order_histories.md`; real output in PrestaShop/PrestaShop#10172, #22760.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, cast
from zoneinfo import ZoneInfo

from workers.domain import Customer, Order, OrderLine, Product, StatusChange
from workers.shops import localtime
from workers.shops.numbers import plausible

CENT = Decimal("0.01")
#: PrestaShop keeps prices with six decimals (DECIMAL(20,6)); a net price derived from a gross
#: one at this precision gives the gross back to the cent.
PRICE_PLACES = Decimal("0.000001")
#: Never-set dates come back as this, not as null.
ZERO_DATE = "0000-00-00 00:00:00"
#: Rate precisions tried, coarsest first, when deriving a line's VAT rate from its two prices.
_RATE_STEPS = (Decimal("1"), Decimal("0.5"), Decimal("0.1"), Decimal("0.01"))
#: Product fields the Webservice lists as not writable: a PUT carrying them is refused
#: ("parameter "quantity" not writable", code 93). Stock goes through stock_availables.
READ_ONLY_PRODUCT_FIELDS = frozenset({"manufacturer_name", "quantity"})


#: `Validate::isCatalogName` refuses a product name holding one of these.
CATALOG_NAME_FORBIDDEN = frozenset("<>;=#{}")
#: `Product::$definition['fields']['name']['size']`.
NAME_MAX = 128
#: The entities HTMLPurifier writes for bare text characters, and what they stand for.
_PURIFIER_ENTITY = re.compile("&(amp|lt|gt);")
_PURIFIER_CHARS = {"amp": "&", "lt": "<", "gt": ">"}
#: `Validate::isCleanHtml` (its event list, its `script` and frame patterns).
_EVENTS = (
    "onmousedown|onmousemove|onmmouseup|onmouseover|onmouseout|onload|onunload|onfocus|onblur|"
    "onchange|onsubmit|ondblclick|onclick|onkeydown|onkeyup|onkeypress|onmouseenter|"
    "onmouseleave|onerror|onselect|onreset|onabort|ondragdrop|onresize|onactivate|"
    "onafterprint|onmoveend|onafterupdate|onbeforeactivate|onbeforecopy|onbeforecut|"
    "onbeforedeactivate|onbeforeeditfocus|onbeforepaste|onbeforeprint|onbeforeunload|"
    "onbeforeupdate|onmove|onbounce|oncellchange|oncontextmenu|oncontrolselect|oncopy|oncut|"
    "ondataavailable|ondatasetchanged|ondatasetcomplete|ondeactivate|ondrag|ondragend|"
    "ondragenter|onmousewheel|ondragleave|ondragover|ondragstart|ondrop|onerrorupdate|"
    "onfilterchange|onfinish|onfocusin|onfocusout|onhashchange|onhelp|oninput|onlosecapture|"
    "onmessage|onmouseup|onmovestart|onoffline|ononline|onpaste|onpropertychange|"
    "onreadystatechange|onresizeend|onresizestart|onrowenter|onrowexit|onrowsdelete|"
    "onrowsinserted|onscroll|onsearch|onselectionchange|onselectstart|onstart|onstop")
_SCRIPT_TAG = re.compile(r"<\s*script", re.IGNORECASE | re.MULTILINE | re.DOTALL)
_EVENT_ATTR = re.compile(rf"({_EVENTS})\s*=", re.IGNORECASE | re.MULTILINE | re.DOTALL)
_SCRIPT_COLON = re.compile(r"script:", re.IGNORECASE)
_FRAME_TAG = re.compile(r"<\s*(i?frame|form|input|embed|object)",
                        re.IGNORECASE | re.MULTILINE | re.DOTALL)


class MappingError(ValueError):
    """One payload item does not have the documented shape; the message says what is wrong."""


# -- primitive readers ------------------------------------------------------------------------


def text(payload: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = payload.get(key)
    if value is None or value == "":
        if required:
            raise MappingError(f"missing {key}")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MappingError(f"{key} is not a string: {value!r}")
    return str(value)


def decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MappingError(f"{what} is not a number: {value!r}")
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(repr(value))
    except InvalidOperation:
        raise MappingError(f"{what} is not a number: {value!r}") from None
    if not plausible(number):  # NaN, Infinity, 1e30: see workers.shops.numbers
        raise MappingError(f"{what} is not a usable number: {value!r:.60}")
    return number


def money(payload: Mapping[str, Any], key: str, *, default: Decimal | None = None) -> Decimal:
    value = payload.get(key)
    if value in (None, ""):
        if default is not None:
            return default
        raise MappingError(f"missing {key}")
    return decimal(value, key)


def ref_id(payload: Mapping[str, Any], key: str) -> str:
    """A foreign id (`id_customer`, …) as its digits; "0" means none."""
    value = text(payload, key)
    if not _ascii_digits(value):
        raise MappingError(f"{key} is not an id: {value!r:.40}")
    return str(int(value))


def _ascii_digits(value: str) -> bool:
    """Digits int() accepts: "²" and "١" pass str.isdigit() but not int()."""
    return value.isascii() and value.isdigit()


def object_id(payload: Any) -> str:
    if not isinstance(payload, Mapping):
        raise MappingError(f"not an object: {type(payload).__name__}")
    value = payload.get("id")
    positive_int = isinstance(value, int) and value > 0
    positive_text = isinstance(value, str) and _ascii_digits(value) and int(value) > 0
    if isinstance(value, bool) or not (positive_int or positive_text):
        raise MappingError(f"id is not a positive integer: {value!r}")
    return str(int(str(value)))


def item_key(payload: Any) -> str:
    if isinstance(payload, Mapping) and payload.get("id") not in (None, ""):
        return str(payload["id"])
    return "?"


def flag(payload: Mapping[str, Any], key: str) -> bool:
    return str(payload.get(key, "0")).strip() == "1"


def lang_value(value: Any, lang_id: str, what: str) -> str:
    """A multilingual field's text in one language (plain string with one shop language)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = {str(entry.get("id")): entry.get("value") for entry in value
                 if isinstance(entry, Mapping)}
        chosen = texts.get(lang_id, next(iter(texts.values()), ""))
        if chosen is None:
            return ""
        if not isinstance(chosen, str):
            raise MappingError(f"{what} is not text: {chosen!r}")
        return chosen
    raise MappingError(f"{what} is neither text nor a language list: {value!r}")


def lang_map(value: Any) -> dict[str, str]:
    """A multilingual field as {language id: text} (for echoing it back in a PUT)."""
    if isinstance(value, list):
        return {str(e.get("id")): "" if e.get("value") is None else str(e.get("value"))
                for e in value if isinstance(e, Mapping)}
    return {}


def local_time(payload: Mapping[str, Any], key: str, zone: ZoneInfo) -> datetime:
    """A `date_add`/`date_upd` (shop-local, naive) as aware UTC."""
    value = text(payload, key, required=True)
    if value == ZERO_DATE:
        raise MappingError(f"{key} is not set")
    try:
        return localtime.to_utc(localtime.parse_local(value), zone)
    except ValueError:
        raise MappingError(f"{key} is not a date: {value!r}") from None


def rows(data: Any, resource: str) -> list[Any]:
    """The list of a collection answer: `{"orders": [...]}`, or `[]` when nothing matched
    (PrestaShop/PrestaShop#10172, #22760 — an empty list loses its wrapper)."""
    if data is None or data == [] or data == {}:
        return []
    if isinstance(data, Mapping) and isinstance(data.get(resource), list):
        return list(data[resource])
    raise MappingError(f"{resource} list is neither [] nor {{{resource!r}: [...]}}: "
                       f"{type(data).__name__}")


def single(data: Any, element: str) -> Mapping[str, Any]:
    """The object of a single answer, `{"product": {...}}`."""
    if isinstance(data, Mapping) and isinstance(data.get(element), Mapping):
        return cast(Mapping[str, Any], data[element])
    raise MappingError(f"answer is not {{{element!r}: {{...}}}}")


# -- orders -----------------------------------------------------------------------------------


@dataclass(slots=True)
class OrderRefs:
    """What an order page refers to, read in a few list calls per page (and cached)."""

    customers: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    addresses: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    countries: dict[str, str] = field(default_factory=dict)  # id → ISO code
    currencies: dict[str, str] = field(default_factory=dict)  # id → ISO code
    carriers: dict[str, str] = field(default_factory=dict)  # id → name
    paid_states: frozenset[str] = frozenset()  # ids of order_states with paid = 1


def parse_order(payload: Any, refs: OrderRefs, zone: ZoneInfo, lang_id: str = "1") -> Order:
    """One element of `GET orders?display=full` → Order."""
    order_id = object_id(payload)
    state = ref_id(payload, "current_state")
    associations = payload.get("associations")  # an object when present; anything else: none
    rows_ = associations.get("order_rows") if isinstance(associations, Mapping) else None
    if not isinstance(rows_, list) or not rows_:
        raise MappingError("order has no associations.order_rows")
    return Order(
        external_id=order_id,
        external_number=text(payload, "reference").strip() or order_id,
        status=state,
        currency=_currency(payload, refs),
        total_gross=_cents(_total(payload)),
        shipping_gross=_cents(money(payload, "total_shipping_tax_incl", default=Decimal(0))),
        is_paid=state in refs.paid_states,
        ordered_at=local_time(payload, "date_add", zone),
        modified_at=local_time(payload, "date_upd", zone),
        customer=_customer(payload, refs),
        lines=tuple(_line(row, n) for n, row in enumerate(rows_, 1)),
        payment_method=text(payload, "payment").strip() or None,
        shipping_method=refs.carriers.get(_soft_id(payload, "id_carrier")),
        notes=text(payload, "note").strip() or None,
    )


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, ROUND_HALF_UP)


def _total(payload: Mapping[str, Any]) -> Decimal:
    """`total_paid_tax_incl` (1.5+); `total_paid` on shops that leave it empty."""
    if payload.get("total_paid_tax_incl") not in (None, ""):
        return money(payload, "total_paid_tax_incl")
    return money(payload, "total_paid")


def order_refs_wanted(orders: Sequence[Any]) -> dict[str, set[str]]:
    """The ids a page of raw orders refers to, by resource (unusable ids are skipped here and
    reported when the order itself is parsed)."""
    wanted: dict[str, set[str]] = {"customers": set(), "addresses": set(), "carriers": set()}
    for order in orders:
        if not isinstance(order, Mapping):
            continue
        for resource, key in (("customers", "id_customer"), ("addresses", "id_address_invoice"),
                              ("carriers", "id_carrier")):
            value = str(order.get(key, "")).strip()
            if _ascii_digits(value) and int(value) > 0:
                wanted[resource].add(str(int(value)))
    return wanted


def _currency(payload: Mapping[str, Any], refs: OrderRefs) -> str:
    iso = refs.currencies.get(ref_id(payload, "id_currency"), "").strip().upper()
    if len(iso) != 3 or not iso.isalpha():
        raise MappingError(f"currency {payload.get('id_currency')!r} has no ISO code")
    return iso


def _customer(payload: Mapping[str, Any], refs: OrderRefs) -> Customer:
    """The buyer from the invoice address, then the customer row. Lenient (issue 11): a
    customer deleted since (no row), a guest without e-mail or an address we cannot read give
    empty fields, and the engine matches such a buyer by name and address instead."""
    customer = refs.customers.get(_soft_id(payload, "id_customer")) or {}
    email = text(customer, "email").strip().lower()
    address = refs.addresses.get(_soft_id(payload, "id_address_invoice")) or {}
    country = refs.countries.get(str(address.get("id_country", "")).strip(), "")
    street = " ".join(part for part in (text(address, "address1").strip(),
                                         text(address, "address2").strip()) if part)

    def pick(*options: tuple[Mapping[str, Any], str]) -> str:
        return next((v for v in (text(row, key).strip() for row, key in options) if v), "")

    return Customer(
        email=email,
        first_name=pick((address, "firstname"), (customer, "firstname")),
        last_name=pick((address, "lastname"), (customer, "lastname")),
        company=pick((address, "company"), (customer, "company")) or None,
        tax_id=pick((address, "vat_number"), (customer, "siret")) or None,
        phone=pick((address, "phone_mobile"), (address, "phone")) or None,
        street=street,
        city=text(address, "city").strip(),
        postcode=text(address, "postcode").strip(),
        # As the shop gives it (the engine decides what an odd or missing code becomes).
        country_code=country.strip().upper(),
    )


def _soft_id(payload: Mapping[str, Any], key: str) -> str:
    """An optional foreign id: "" when missing (nothing is looked up for it). A value of the
    wrong shape is still an error: a payload that is not what the shop writes is refused,
    and so kept for retry, rather than read as empty."""
    return "" if payload.get(key) in (None, "") else ref_id(payload, key)


def _line(row: Any, number: int) -> OrderLine:
    if not isinstance(row, Mapping):
        raise MappingError(f"line {number} is not an object")
    try:
        quantity = decimal(row.get("product_quantity"), "product_quantity")
        if quantity <= 0:
            raise MappingError(f"quantity must be positive: {quantity}")
        gross = money(row, "unit_price_tax_incl")
        net = money(row, "unit_price_tax_excl", default=gross)
        # An empty name or SKU is passed on: the engine names the line and warns (issue 11).
        return OrderLine(sku=text(row, "product_reference").strip(),
                         name=text(row, "product_name").strip(),
                         quantity=quantity, unit_price_gross=gross.quantize(CENT, ROUND_HALF_UP),
                         vat_rate=vat_rate_from(net, gross))
    except MappingError as exc:
        raise MappingError(f"line {number}: {exc}") from None


def vat_rate_from(net: Decimal, gross: Decimal) -> Decimal | None:
    """The simplest rate (whole percent, then halves, tenths, hundredths) that turns `net` into
    `gross` at PrestaShop's six decimals; None when the line is free or none fits."""
    if net <= 0:
        return None
    if gross == net:
        return Decimal("0.00")
    exact = (gross - net) * 100 / net
    for step in _RATE_STEPS:
        candidate = (exact / step).quantize(Decimal(1), ROUND_HALF_UP) * step
        if (net * (100 + candidate) / 100).quantize(CENT, ROUND_HALF_UP) == \
                gross.quantize(CENT, ROUND_HALF_UP):
            return candidate.quantize(CENT)
    return None


def history_fields(change: StatusChange) -> dict[str, Any]:
    """StatusChange → an `order_history` (POST order_histories). PrestaShop has no free-form
    status: `shop_status` must be the numeric id of one of the shop's order_states."""
    order_id, state = change.external_id.strip(), change.shop_status.strip()
    if not order_id.isdigit() or int(order_id) <= 0:
        raise MappingError(f"not a PrestaShop order id: {change.external_id!r}")
    if not state.isdigit() or int(state) <= 0:
        raise MappingError(f"PrestaShop statuses are numeric order_states ids, got "
                           f"{change.shop_status!r}")
    return {"id_order": int(order_id), "id_order_state": int(state)}


# -- catalog ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Catalog:
    """What product writes and reads need to know about the shop (read once per client)."""

    default_lang: str
    languages: tuple[str, ...]  # active language ids
    group_rates: Mapping[str, Decimal]  # active tax rule group id → rate in the shop's country

    def rate_of(self, group_id: str) -> Decimal:
        """Group "0" is "no tax"; an unknown group is an error (the price would be wrong)."""
        if group_id in ("", "0"):
            return Decimal(0)
        if group_id not in self.group_rates:
            raise MappingError(f"tax rule group {group_id} is unknown or has no rate for the "
                               "shop's country")
        return self.group_rates[group_id]

    def group_for(self, rate: Decimal) -> str:
        """The tax rule group charging `rate`, preferring the lowest id when several do."""
        matches = sorted((int(g) for g, r in self.group_rates.items() if r == rate))
        if not matches:
            if rate == 0:
                return "0"
            known = ", ".join(sorted({f"{r.normalize():f} %" for r in self.group_rates.values()}))
            raise MappingError(f"no tax rule group charges {rate.normalize():f} % in the shop's "
                               f"country (the shop has: {known or 'none'})")
        return str(matches[0])


def net_price(gross: Decimal, rate: Decimal) -> Decimal:
    """PrestaShop's `price` is tax-excluded: gross / (1 + rate), to six places."""
    return (gross * 100 / (100 + rate)).quantize(PRICE_PLACES, ROUND_HALF_UP)


def gross_price(net: Decimal, rate: Decimal) -> Decimal:
    return (net * (100 + rate) / 100).quantize(CENT, ROUND_HALF_UP)


def parse_product(payload: Any, catalog: Catalog, zone: ZoneInfo) -> Product:
    """One element of `GET products?display=full` → Product (gross price, as the ERP keeps it)."""
    product_id = object_id(payload)
    # No SKU or no name is passed on as "": the engine lists such a product (issue 11).
    sku = text(payload, "reference").strip()
    group = text(payload, "id_tax_rules_group").strip() or "0"
    rate = catalog.rate_of(group)
    net = money(payload, "price")
    if net < 0:
        raise MappingError(f"price is negative: {net}")
    weight = money(payload, "weight", default=Decimal(0))
    name = lang_value(payload.get("name"), catalog.default_lang, "name").strip()
    description = description_from_shop(
        lang_value(payload.get("description"), catalog.default_lang, "description"))
    return Product(
        shop_id=product_id,
        sku=sku,
        name=name,
        description=description or None,
        price_gross=gross_price(net, rate),
        price_net=net.quantize(CENT, ROUND_HALF_UP),
        vat_rate=rate.quantize(CENT),
        ean=text(payload, "ean13").strip() or None,
        weight_kg=weight.normalize() if weight > 0 else None,
        is_active=flag(payload, "active"),
        modified_at=local_time(payload, "date_upd", zone),
    )


def catalog_name(name: str) -> str:
    """The ERP name as PrestaShop can store it, or a MappingError saying why it cannot.

    PrestaShop refuses a name holding any of `<>;=#{}` (`Validate::isCatalogName`) or longer
    than 128 characters (`Product::$definition`, size 128), and stores names through
    `pSQL()` → `Db::escape()`, which runs `strip_tags(Tools::nl2br(…))`: a line break would
    vanish. We neither rewrite nor truncate a name (import would then carry the altered name
    back over the ERP's): such a product is an item error naming the characters to change.
    """
    if not name.strip():
        # 1.7 requires a name in the default language (84); whether 8/9 do is unverified, so
        # an empty name is never sent (a nameless product in the shop helps nobody).
        raise MappingError("PrestaShop needs a product name; the ERP name is empty")
    bad = sorted(set(name) & CATALOG_NAME_FORBIDDEN)
    if bad:
        raise MappingError(f"PrestaShop refuses product names containing {' '.join(bad)} "
                           "(Validate::isCatalogName); change the name in the ERP")
    if "\n" in name or "\r" in name:
        raise MappingError("PrestaShop drops line breaks from product names; remove them "
                           "from the name in the ERP")
    if len(name) > NAME_MAX:
        raise MappingError(f"PrestaShop keeps product names up to {NAME_MAX} characters; this "
                           f"one has {len(name)}")
    return name


def description_for_shop(description: str | None) -> str:
    """The ERP description as sent: the way back (`description_from_shop`) must tell an entity
    the ERP wrote from one the shop's HTMLPurifier wrote, so a literal `&amp;`, `&lt;` or
    `&gt;` in the ERP text is sent with its `&` escaped. A description `Validate::isCleanHtml`
    refuses (scripts, event handlers, `script:`, frames and forms) is an item error here."""
    text_ = description or ""
    if not is_clean_html(text_):
        raise MappingError("PrestaShop refuses this description (Validate::isCleanHtml: "
                           "scripts, on…= handlers, \"script:\", iframes, forms, inputs, embeds "
                           "and objects are not allowed)")
    return _PURIFIER_ENTITY.sub(lambda m: "&amp;" + m.group(1) + ";", text_)


def description_from_shop(stored: str) -> str:
    """The stored description as the ERP wrote it. With PS_USE_HTMLPURIFIER on (the default)
    `ObjectModel::formatValue` runs TYPE_HTML fields through `Tools::purifyHTML`, which writes
    a bare `&`, `<` or `>` of the text as `&amp;`, `&lt;`, `&gt;`; those three are read back
    in one pass, which also undoes `description_for_shop` when the purifier is off."""
    return _PURIFIER_ENTITY.sub(lambda m: _PURIFIER_CHARS[m.group(1)], stored)


def is_clean_html(html: str, allow_iframe: bool = False) -> bool:
    """`Validate::isCleanHtml`, the same three refusals."""
    if _SCRIPT_TAG.search(html) or _EVENT_ATTR.search(html) or _SCRIPT_COLON.search(html):
        return False
    return allow_iframe or not _FRAME_TAG.search(html)


def _slug(name: str) -> str:
    """`link_rewrite` (required in the default language): lower-case ASCII words and dashes."""
    folded = unicodedata.normalize("NFKD", name.replace("ł", "l").replace("Ł", "L"))
    ascii_ = folded.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")[:128] or "produkt"


def _ean13(product: Product) -> str:
    ean = (product.ean or "").strip()
    if ean and (not ean.isdigit() or len(ean) > 13):
        raise MappingError(f"EAN {ean!r} does not fit PrestaShop's ean13 (up to 13 digits)")
    return ean


def _tax(product: Product, catalog: Catalog, current_group: str | None) -> tuple[str, Decimal]:
    """(tax rule group, rate): the group for the ERP's VAT rate; the product's own group when
    the ERP gives no rate."""
    if product.vat_rate is not None:
        group = catalog.group_for(product.vat_rate)
        return group, catalog.rate_of(group)
    if current_group is None:
        raise MappingError("product has no VAT rate; cannot choose a tax rule group")
    return current_group, catalog.rate_of(current_group)


def new_product_fields(product: Product, catalog: Catalog) -> dict[str, Any]:
    """Product → the fields of a POST products. Names go to every active language (the ERP has
    one name), so the shop shows no empty name in any of them."""
    group, rate = _tax(product, catalog, None)
    langs = catalog.languages or (catalog.default_lang,)
    return {
        "reference": product.sku,
        "ean13": _ean13(product),
        "price": f"{net_price(product.price_gross, rate):f}",
        "id_tax_rules_group": group,
        "weight": _weight(product),
        "active": "1" if product.is_active else "0",
        "state": "1",
        "available_for_order": "1",
        "show_price": "1",
        "visibility": "both",
        "name": {lang: catalog_name(product.name) for lang in langs},
        "link_rewrite": {lang: _slug(product.name) for lang in langs},
        "description": {lang: description_for_shop(product.description) for lang in langs},
    }


def updated_product_fields(product: Product, current: Mapping[str, Any],
                           catalog: Catalog) -> dict[str, Any]:
    """The full object for a PUT products/{id}: the shop's current object with our fields set.

    PUT is not partial: a field left out is emptied, a multilingual one wiped, so everything
    the shop sent is echoed back — except the read-only fields (refused) and `associations`
    (left untouched when absent). Only the default language's name and description change;
    translations made in the shop stay.
    """
    group, rate = _tax(product, catalog, text(current, "id_tax_rules_group").strip() or "0")
    fields: dict[str, Any] = {}
    for key, value in current.items():
        if key in READ_ONLY_PRODUCT_FIELDS or key == "associations":
            continue
        if isinstance(value, list):
            fields[key] = lang_map(value)
        elif isinstance(value, Mapping):
            continue
        else:
            fields[key] = "" if value is None else str(value)
    fields.update({
        "id": object_id(current),
        "reference": product.sku,
        "ean13": _ean13(product),
        "price": f"{net_price(product.price_gross, rate):f}",
        "id_tax_rules_group": group,
        "weight": _weight(product),
        "active": "1" if product.is_active else "0",
    })
    for key, value in (("name", catalog_name(product.name)),
                       ("description", description_for_shop(product.description))):
        fields[key] = _set_lang(current.get(key), catalog.default_lang, value)
    return fields


def _set_lang(current: Any, lang_id: str, value: str) -> dict[str, str]:
    values = lang_map(current) if isinstance(current, list) else {}
    values[lang_id] = value
    return values


def _weight(product: Product) -> str:
    if product.weight_kg is None:
        return "0"
    if product.weight_kg < 0:
        raise MappingError(f"negative weight {product.weight_kg}")
    return format(product.weight_kg.normalize(), "f")


def stock_fields(current: Mapping[str, Any], quantity: int) -> dict[str, Any]:
    """The full stock_available object with a new absolute quantity (PUT is not partial:
    `id_shop`, `location`… left out would be emptied)."""
    if quantity < 0:
        raise MappingError(f"negative stock quantity {quantity}")
    fields = {key: ("" if value is None else str(value)) for key, value in current.items()
              if not isinstance(value, list | Mapping)}
    fields["id"] = object_id(current)
    fields["quantity"] = str(int(quantity))
    return fields


def shop_int_id(shop_id: str | None) -> int:
    if shop_id is None or not str(shop_id).strip().isdigit() or int(shop_id) <= 0:
        raise MappingError(f"not a PrestaShop id: {shop_id!r}")
    return int(shop_id)
