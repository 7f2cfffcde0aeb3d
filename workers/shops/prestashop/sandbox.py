"""A faithful PrestaShop Webservice (8.x) emulator served over real HTTP.

Public API:

    PrestaShopSandbox(key=DEFAULT_KEY, *, shop_timezone="Europe/Warsaw", languages=2,
                      version="8.1.7", faults=None, seed=0, html_purifier=True)
        .serve(host="127.0.0.1", port=0) -> SandboxHandle      (from workers.shops.sandbox)
        .api_url(handle) -> str                                  ".../api/"
        .add_product(reference, name, *, price_gross=None, price=None, tax_group=1,
                     quantity=0, active=True, ean13="", weight="0", created=None) -> dict
        .set_quantity(product_id, quantity)        (a sale or a BO edit: date_upd stays)
        .add_order(sku_lines=[(sku, qty, unit_gross)], *, email, state=2, created=None,
                   shipping_gross="14.99") -> dict
        .change_order_state(order_id, state)       (as the back office: history + date_upd)
        .update_order(order_id, *, bump=True, **fields)
        .products_by_reference(ref) / .stock_row(product_id) / .gross_price(product)
        .tables[resource][id] -> stored record      .now: aware clock (settable)
        .keys: {key: {resource: {methods}} | None (all)}   .enabled (PS_WEBSERVICE)
        + everything of `Sandbox`: faults, log, on_request, reset(), /__sandbox/ endpoints.

    serve_forever(host, port, *, seed_orders, seed_products, consumer_key, consumer_secret,
                  error_rate, rate_limit_rate, latency_ms) -> None

Behaviour reproduced (sources: PrestaShop/PrestaShop `classes/webservice/WebserviceRequest.php`
(authenticate, checkResource, checkHTTPMethod, manageFilters, setFieldsToDisplay,
saveEntityFromXml), `SQLUtils::getSQLRetrieveFilter`, `WebserviceOutputJSON.php`;
PrestaShop/docs `webservice/cheat-sheet.md`, `resources/*.md`; issues #10172, #22760, #11099):
- auth: the key as the Basic user (password ignored) or `ws_key=`; none → 401 code 16 with
  `WWW-Authenticate: Basic`; not 32 characters → 18; unknown → 20; a resource the key may not
  use → 401 code 26; a method it may not use → 405 code 25; webservice off → 503 code 22.
- output: XML unless `output_format=JSON` (or `Output-Format: JSON`); JSON lists are
  `{"products": [...]}` with `display`, `{"products": [{"id": 1}, ...]}` without, an empty list is
  `[]`; one object is `{"product": {...}}`; values are strings except `id`; multilingual fields are
  `[{"id": "1", "value": "…"}]` with several languages, a plain string with one.
- lists: `display=full|[a,b]`, `filter[f]=[a|b]` (OR), `[a,b]` (interval, inclusive), `[x]`,
  `>[x]`, `<[x]`, `![x]`, `%[x]%` (LIKE, case-insensitive); `date_add`/`date_upd` can be filtered
  or sorted only with `date=1` (else 400 code 32 / 38); `sort=[f_ASC,g_DESC]`; `limit=n` or
  `limit=offset,n` (no cap, no total; three parts → 400 code 39); default order by id.
- writes take XML only: a JSON body fails SimpleXML → 500 code 127. POST with an id → 400 code
  91; PUT without one → 400 code 90, unknown id → 404 code 92; a missing required field → 400
  code 41; a read-only field (`quantity`, `manufacturer_name`) → 400 code 93; PUT is not partial:
  every other field left out is emptied (multilingual ones too); PATCH changes only what it
  carries; bad values → 400 code 85. `ps_method=` overrides the verb.
- order_histories for an order or state that does not exist: PHP `die("Invalid new order
  status")` (src `OrderHistory::changeIdOrderState`) — HTTP 200, text, nothing written.
- dates are naive wall-clock times in `shop_timezone`; every save of an object moves its
  `date_upd`, a stock_available write does not move its product's (PrestaShop/PrestaShop#20465).
- products: `price` tax-excluded (6 places), `reference` not unique, a stock_available row
  (id_product_attribute 0) created with each product; tax rule groups 1 (23 %), 2 (8 %),
  3 (5 %), 4 (0 %) for Poland. stock_availables: GET/PUT/PATCH only. order_histories: POST sets
  the order's `current_state`, `valid` (the state's `logable`) and `date_upd`.
- stored forms (`ObjectModel::formatValue`): descriptions through the purifier's text escaping
  (`purify`, `html_purifier=`), names refused by `isCatalogName` or past 128 characters and
  stored without line breaks, floats as DECIMAL(20,6); descriptions `isCleanHtml` refuses → 84.
- `version=`: 1.7 knows no PATCH (405 code 23); `PSWS-Version` says the version. With
  `display` in the query one object comes in the list wrapper (WebserviceOutputJSON).
Every behaviour and its source: docs/fidelity/prestashop.md.
Left out: DELETE, orders/carts/customers writes, combinations, images, multistore contexts
(`id_shop`), `schema=`, `language=` ranges, `price[...]` virtual fields, 304/Content-Sha1.
"""

from __future__ import annotations

import base64
import difflib
import random
import re
import string
import time
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import orjson

from workers.shops.prestashop import mapping, xmlbody
from workers.shops.prestashop.resources import (
    ORDER_STATE_ROWS,
    RESOURCES,
    Resource,
)
from workers.shops.sandbox import (
    Faults,
    Sandbox,
    SandboxHandle,
    SandboxRequest,
    SandboxResponse,
    serve_until_stopped,
)

API_PREFIX = "/api/"
DEFAULT_KEY = "PRESTASHOPSANDBOXKEY000000000001"  # 32 characters, as PrestaShop requires
POLAND = 14  # country id of Poland in a fresh install
WIRE = "%Y-%m-%d %H:%M:%S"
CENT = Decimal("0.01")
SIX = Decimal("0.000001")
Json = dict[str, Any]
_CLASSES = {"product": "Product", "stock_available": "StockAvailable",
            "order_history": "OrderHistory"}
_PRICE = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,9})?$")
_UNSIGNED_FLOAT = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_INT = re.compile(r"^[+-]?[0-9]+$")
_REFERENCE = re.compile(r"^[^<>;={}]*$")
_INTERVAL = re.compile(r"^([\d.:\-\s]+),([\d.:\-\s]+)$")
_FILTER = re.compile(r"^(.*)\[(.*)\](.*)$", re.S)


#: Product fields of TYPE_FLOAT, stored as DECIMAL(20,6) (install-dev/data/db_structure.sql).
_PRODUCT_FLOATS = frozenset({"price", "wholesale_price", "ecotax", "weight", "width", "height",
                             "depth", "unit_price_ratio", "additional_shipping_cost"})
_LINE_BREAK = re.compile("\r\n|\r|\n")
#: What HTMLPurifier keeps as markup: a tag, a comment, or an entity reference.
_MARKUP = re.compile(r"<!--.*?-->|</?[A-Za-z][A-Za-z0-9]*(\s[^<>]*)?/?>"
                     r"|&(#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);", re.DOTALL)
_BARE = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_VOID = re.compile(r"^<(br|hr)\s*/?>$", re.IGNORECASE)


def purify(html: str) -> str:
    """The part of HTMLPurifier (`Tools::purifyHTML`) a catalogue description meets: line ends
    become LF (`HTMLPurifier_Lexer::normalize`) and a bare `&`, `<` or `>` of the text is
    written as an entity (`HTMLPurifier_Generator::generateFromToken`, text through
    `htmlspecialchars(…, ENT_NOQUOTES)`), `<br>` and `<hr>` are written `<br />`, `<hr />`
    (XHTML output); other well-formed tags, comments and entities stay. Not reproduced (the
    fidelity sheet lists them): dropping disallowed tags and attributes, closing unclosed
    tags, rewriting attribute quotes, decoding other named entities."""
    html = _LINE_BREAK.sub("\n", html)
    out: list[str] = []
    position = 0
    for found in _MARKUP.finditer(html):
        out.append("".join(_BARE.get(c, c) for c in html[position:found.start()]))
        # HTMLPurifier_Generator writes XHTML: an empty element ends in " />".
        out.append(_VOID.sub(r"<\1 />", found.group(0)))
        position = found.end()
    out.append("".join(_BARE.get(c, c) for c in html[position:]))
    return "".join(out)


def _catalog_name_ok(name: str) -> bool:
    """`Validate::isCatalogName`: none of `<>;=#{}`."""
    return not set(name) & mapping.CATALOG_NAME_FORBIDDEN


class Died(Exception):
    """PHP `die(message)` inside an object method: plain text, HTTP 200, no Webservice body."""


class WsError(Exception):
    """One Webservice error: HTTP status, PrestaShop's numeric code, its message."""

    def __init__(self, status: int, code: int, message: str,
                 headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = list(headers)


def _did_you_mean(message: str, wrong: str, available: list[str]) -> str:
    closest = (difflib.get_close_matches(wrong, available, n=1, cutoff=0) or [""])[0]
    full = (' The full list is: "' + '", "'.join(available) + '"') if len(available) > 1 else ""
    return f'{message}. Did you mean: "{closest}"?{full}'


def _num(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Demo data

FIRST_NAMES = ("Anna", "Katarzyna", "Małgorzata", "Agnieszka", "Piotr", "Krzysztof", "Tomasz",
               "Paweł", "Michał", "Ewa")
LAST_NAMES = ("Nowak", "Kowalska", "Wiśniewski", "Wójcik", "Kamińska", "Lewandowski",
              "Zielińska", "Szymański")
CITIES = (("Warszawa", "00-950"), ("Kraków", "30-001"), ("Gdańsk", "80-001"),
          ("Poznań", "60-001"), ("Wrocław", "50-001"))
PRODUCT_NAMES = ("Kubek ceramiczny", "Koszulka bawełniana", "Plecak miejski", "Lampka biurkowa",
                 "Notes A5", "Świeca sojowa", "Herbata liściasta", "Miód wielokwiatowy")


class PrestaShopSandbox(Sandbox):
    """The PrestaShop Webservice with its quirks (see the module docstring)."""

    platform = "prestashop"

    def __init__(
        self,
        key: str = DEFAULT_KEY,
        *,
        shop_timezone: str = "Europe/Warsaw",
        languages: int = 2,
        version: str = "8.1.7",
        faults: Faults | None = None,
        seed: int = 0,
        html_purifier: bool = True,
    ) -> None:
        super().__init__(faults=faults)
        if languages not in (1, 2):
            raise ValueError("languages must be 1 (pl) or 2 (pl, en)")
        self.keys: dict[str, dict[str, set[str]] | None] = {key: None}
        self.key = key
        self.enabled = True
        self.version = version
        #: PS_USE_HTMLPURIFIER (on in a fresh install: install-dev/data/xml/configuration.xml).
        self.html_purifier = html_purifier
        self.zone = ZoneInfo(shop_timezone)
        self.language_ids = ("1", "2")[:languages]
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._seed = seed
        self._demo: tuple[int, int] | None = None
        self._clear_data()

    # -- data ---------------------------------------------------------------------------------

    def _clear_data(self) -> None:
        self.tables: dict[str, dict[int, Json]] = {name: {} for name in RESOURCES}
        self.rng = random.Random(self._seed)
        self._seed_configuration()

    def _local_now(self) -> str:
        moment = self.now()
        if moment.tzinfo is None:
            raise ValueError("PrestaShopSandbox.now must return an aware datetime")
        return moment.astimezone(self.zone).strftime(WIRE)

    def local(self, moment: datetime | None) -> str:
        """An aware instant as the shop stores it (naive, shop-local)."""
        if moment is None:
            return self._local_now()
        return moment.astimezone(self.zone).strftime(WIRE)

    def _lang(self, pl: str, en: str | None = None) -> dict[str, str]:
        return {"1": pl, "2": en if en is not None else pl}

    def _insert(self, resource: str, record: Json) -> Json:
        table = self.tables[resource]
        record["id"] = int(record.get("id") or (max(table, default=0) + 1))
        spec = RESOURCES[resource]
        for name in spec.fields:
            if name not in record:
                record[name] = self._lang("") if name in spec.i18n else ""
        table[record["id"]] = record
        return record

    def _seed_configuration(self) -> None:
        now = self._local_now()
        for lang_id, iso, name, locale in (("1", "pl", "Polski (Polish)", "pl-PL"),
                                           ("2", "en", "English (English)", "en-US")):
            self._insert("languages", {"id": int(lang_id), "name": name, "iso_code": iso,
                                       "locale": locale, "language_code": locale.lower(),
                                       "active": "1" if lang_id in self.language_ids else "0",
                                       "is_rtl": "0", "date_format_lite": "Y-m-d",
                                       "date_format_full": "Y-m-d H:i:s"})
        for name, value in (("PS_LANG_DEFAULT", "1"), ("PS_COUNTRY_DEFAULT", str(POLAND)),
                            ("PS_CURRENCY_DEFAULT", "1"), ("PS_TIMEZONE", str(self.zone)),
                            ("PS_WEBSERVICE", "1")):
            self._insert("configurations", {"name": name, "value": value, "id_shop_group": "",
                                            "id_shop": "", "date_add": now, "date_upd": now})
        self._insert("countries", {"id": POLAND, "id_zone": "1", "id_currency": "0",
                                   "call_prefix": "48", "iso_code": "PL", "active": "1",
                                   "contains_states": "0", "need_identification_number": "0",
                                   "need_zip_code": "1", "zip_code_format": "NN-NNN",
                                   "display_tax_label": "1", "name": self._lang("Polska",
                                                                                "Poland")})
        self._insert("countries", {"id": 1, "id_zone": "1", "iso_code": "DE", "active": "1",
                                   "name": self._lang("Niemcy", "Germany")})
        self._insert("currencies", {"id": 1, "name": self._lang("złoty polski", "Polish Zloty"),
                                    "symbol": self._lang("zł"), "iso_code": "PLN",
                                    "numeric_iso_code": "985", "precision": "2",
                                    "conversion_rate": "1.000000", "deleted": "0",
                                    "active": "1"})
        self._insert("carriers", {"id": 1, "deleted": "0", "is_module": "0",
                                  "name": "Kurier InPost", "active": "1", "id_reference": "1",
                                  "position": "0",
                                  "delay": self._lang("1-2 dni robocze", "1-2 working days")})
        for group_id, rate, name in ((1, "23.000", "PL Standard Rate (23%)"),
                                     (2, "8.000", "PL Reduced Rate (8%)"),
                                     (3, "5.000", "PL Reduced Rate (5%)"),
                                     (4, "0.000", "PL Exempted Rate (0%)")):
            self._insert("taxes", {"id": group_id, "rate": rate, "active": "1", "deleted": "0",
                                   "name": self._lang(f"PTU PL {rate[:-4]}%")})
            self._insert("tax_rule_groups", {"id": group_id, "name": name, "active": "1",
                                             "deleted": "0", "date_add": now, "date_upd": now})
            self._insert("tax_rules", {"id_tax_rules_group": str(group_id), "id_state": "0",
                                       "id_country": str(POLAND), "zipcode_from": "0",
                                       "zipcode_to": "0", "id_tax": str(group_id),
                                       "behavior": "0", "description": ""})
        for state_id, en, pl, paid, logable, shipped in ORDER_STATE_ROWS:
            self._insert("order_states", {
                "id": state_id, "unremovable": "1", "delivery": str(shipped), "hidden": "0",
                "send_email": "1", "module_name": "", "invoice": str(paid), "color": "#4169E1",
                "logable": str(logable), "shipped": str(shipped), "paid": str(paid),
                "pdf_delivery": "0", "pdf_invoice": "0", "deleted": "0",
                "name": self._lang(pl, en), "template": self._lang(""),
            })

    def state(self) -> dict[str, Any]:
        return {name: len(self.tables[name]) for name in ("products", "orders", "customers")} | {
            "shop_timezone": str(self.zone), "languages": len(self.language_ids)}

    def reset_data(self) -> None:
        with self.lock:
            self._clear_data()
            if self._demo is not None:
                self.seed_demo(*self._demo)

    def api_url(self, handle: SandboxHandle) -> str:
        return f"{handle.base_url}{API_PREFIX}"

    # -- helpers for tests and the demo ------------------------------------------------------

    def tax_rate(self, group_id: Any) -> Decimal:
        for rule in self.tables["tax_rules"].values():
            if rule["id_tax_rules_group"] == str(group_id):
                return Decimal(self.tables["taxes"][int(rule["id_tax"])]["rate"])
        return Decimal(0)

    def gross_price(self, product: Mapping[str, Any]) -> Decimal:
        rate = self.tax_rate(product["id_tax_rules_group"])
        return (Decimal(product["price"]) * (100 + rate) / 100).quantize(CENT, ROUND_HALF_UP)

    def add_product(self, reference: str, name: str, *, price_gross: Decimal | str | None = None,
                    price: Decimal | str | None = None, tax_group: int = 1, quantity: int = 0,
                    active: bool = True, ean13: str = "", weight: str = "0",
                    created: datetime | None = None, description: str = "") -> Json:
        """A product made in the back office (not through the API)."""
        with self.lock:
            if price is None:
                gross = Decimal(str(price_gross if price_gross is not None else "10.00"))
                rate = self.tax_rate(tax_group)
                price = (gross * 100 / (100 + rate)).quantize(SIX, ROUND_HALF_UP)
            moment = self.local(created)
            record = self._product_defaults(moment)
            record.update({"reference": reference, "price": f"{Decimal(str(price)):.6f}",
                           "id_tax_rules_group": str(tax_group), "active": "1" if active else "0",
                           "ean13": ean13, "weight": weight,
                           "name": self._lang(name), "link_rewrite": self._lang(_slug(name)),
                           "description": self._lang(description)})
            product = self._insert("products", record)
            self._insert("stock_availables", {
                "id_product": str(product["id"]), "id_product_attribute": "0", "id_shop": "1",
                "id_shop_group": "0", "quantity": str(quantity), "depends_on_stock": "0",
                "out_of_stock": "2", "location": ""})
            return product

    def _product_defaults(self, moment: str) -> Json:
        return {
            "id_manufacturer": "0", "id_supplier": "0", "id_category_default": "2", "new": "",
            "cache_default_attribute": "0", "id_default_image": "", "id_default_combination": "0",
            "position_in_category": "0", "manufacturer_name": "", "type": "simple",
            "id_shop_default": "1", "supplier_reference": "", "location": "", "width": "0.000000",
            "height": "0.000000", "depth": "0.000000", "quantity_discount": "0", "isbn": "",
            "upc": "", "mpn": "", "cache_is_pack": "0", "cache_has_attachments": "0",
            "is_virtual": "0", "state": "1", "additional_delivery_times": "1", "on_sale": "0",
            "online_only": "0", "ecotax": "0.000000", "minimal_quantity": "1",
            "low_stock_threshold": "", "low_stock_alert": "0", "wholesale_price": "0.000000",
            "unity": "", "unit_price_ratio": "0.000000", "additional_shipping_cost": "0.000000",
            "customizable": "0", "text_fields": "0", "uploadable_files": "0",
            "redirect_type": "301-category", "id_type_redirected": "0",
            "available_for_order": "1", "available_date": "0000-00-00", "show_condition": "0",
            "condition": "new", "show_price": "1", "indexed": "1", "visibility": "both",
            "advanced_stock_management": "0", "date_add": moment, "date_upd": moment,
            "pack_stock_type": "3",
        }

    def products_by_reference(self, reference: str) -> list[Json]:
        with self.lock:
            return [p for p in self.tables["products"].values() if p["reference"] == reference]

    def stock_row(self, product_id: int) -> Json | None:
        with self.lock:
            for row in self.tables["stock_availables"].values():
                if row["id_product"] == str(product_id) and row["id_product_attribute"] == "0":
                    return row
            return None

    def set_quantity(self, product_id: int, quantity: int) -> None:
        """Stock moved by a sale or the back office: the product's date_upd stays."""
        with self.lock:
            row = self.stock_row(product_id)
            if row is None:
                raise KeyError(product_id)
            row["quantity"] = str(int(quantity))

    def add_order(self, sku_lines: Iterable[tuple[str, int | Decimal, Decimal | str]], *,
                  email: str, state: int = 2, created: datetime | None = None,
                  shipping_gross: Decimal | str = "14.99", payment: str = "Przelew bankowy",
                  note: str = "") -> Json:
        """An order placed in the shop; unit prices are gross; VAT 23 % unless the product says."""
        with self.lock:
            customer = self._customer_for(email)
            address = next((a for a in self.tables["addresses"].values()
                            if a["id_customer"] == str(customer["id"])), None) or \
                self._address_for(customer)
            moment = self.local(created)
            lines, products_wt, products_net = [], Decimal(0), Decimal(0)
            for n, (sku, quantity, unit_gross) in enumerate(sku_lines, 1):
                match = next(iter(self.products_by_reference(sku)), None)
                gross = Decimal(str(unit_gross))
                rate = self.tax_rate(match["id_tax_rules_group"]) if match else Decimal(23)
                net = (gross * 100 / (100 + rate)).quantize(SIX, ROUND_HALF_UP)
                qty = Decimal(str(quantity))
                products_wt += gross * qty
                products_net += net * qty
                name = match["name"]["1"] if match else f"Produkt {sku}"
                lines.append({"id": str(len(self.tables["orders"]) * 10 + n),
                              "product_id": str(match["id"]) if match else "0",
                              "product_attribute_id": "0", "product_quantity": str(int(qty)),
                              "product_name": name, "product_reference": sku,
                              "product_ean13": match["ean13"] if match else "",
                              "product_isbn": "", "product_upc": "",
                              "product_price": f"{net:.6f}", "id_customization": "0",
                              "unit_price_tax_incl": f"{gross:.6f}",
                              "unit_price_tax_excl": f"{net:.6f}"})
            ship = Decimal(str(shipping_gross))
            ship_net = (ship / Decimal("1.23")).quantize(SIX, ROUND_HALF_UP)
            total = products_wt + ship
            states = self.tables["order_states"]
            record = {
                "id_address_delivery": str(address["id"]), "id_address_invoice": str(address["id"]),
                "id_cart": str(len(self.tables["orders"]) + 1), "id_currency": "1",
                "id_lang": "1", "id_customer": str(customer["id"]), "id_carrier": "1",
                "current_state": str(state), "module": "ps_wirepayment", "invoice_number": "0",
                "invoice_date": "0000-00-00 00:00:00", "delivery_number": "0",
                "delivery_date": "0000-00-00 00:00:00", "valid": states[state]["logable"],
                "date_add": moment, "date_upd": moment, "shipping_number": "", "note": note,
                "id_shop_group": "1", "id_shop": "1",
                "secure_key": f"{self.rng.getrandbits(128):032x}",
                "payment": payment, "recyclable": "0", "gift": "0", "gift_message": "",
                "mobile_theme": "0", "total_discounts": "0.000000",
                "total_discounts_tax_incl": "0.000000", "total_discounts_tax_excl": "0.000000",
                "total_paid": f"{total:.6f}", "total_paid_tax_incl": f"{total:.6f}",
                "total_paid_tax_excl": f"{products_net + ship_net:.6f}",
                "total_paid_real": f"{total:.6f}" if states[state]["paid"] == "1" else "0.000000",
                "total_products": f"{products_net:.6f}", "total_products_wt": f"{products_wt:.6f}",
                "total_shipping": f"{ship:.6f}", "total_shipping_tax_incl": f"{ship:.6f}",
                "total_shipping_tax_excl": f"{ship_net:.6f}", "carrier_tax_rate": "23.000",
                "total_wrapping": "0.000000", "total_wrapping_tax_incl": "0.000000",
                "total_wrapping_tax_excl": "0.000000", "round_mode": "2", "round_type": "2",
                "conversion_rate": "1.000000",
                "reference": "".join(self.rng.choice(string.ascii_uppercase) for _ in range(9)),
                "_rows": lines,
            }
            order = self._insert("orders", record)
            self._insert("order_histories", {"id_employee": "0", "id_order_state": str(state),
                                             "id_order": str(order["id"]), "date_add": moment})
            return order

    def _customer_for(self, email: str) -> Json:
        for customer in self.tables["customers"].values():
            if customer["email"].lower() == email.strip().lower():
                return customer
        moment = self._local_now()
        return self._insert("customers", {
            "id_default_group": "3", "id_lang": "1", "secure_key": "", "deleted": "0",
            "passwd": "", "lastname": self.rng.choice(LAST_NAMES),
            "firstname": self.rng.choice(FIRST_NAMES), "email": email.strip(), "id_gender": "0",
            "newsletter": "0", "optin": "0", "company": "", "active": "1", "is_guest": "0",
            "id_shop": "1", "id_shop_group": "1", "date_add": moment, "date_upd": moment})

    def _address_for(self, customer: Json) -> Json:
        city, postcode = self.rng.choice(CITIES)
        moment = self._local_now()
        return self._insert("addresses", {
            "id_customer": str(customer["id"]), "id_manufacturer": "0", "id_supplier": "0",
            "id_warehouse": "0", "id_country": str(POLAND), "id_state": "0", "alias": "Mój adres",
            "company": "", "lastname": customer["lastname"], "firstname": customer["firstname"],
            "vat_number": "", "address1": f"ul. Długa {self.rng.randint(1, 99)}", "address2": "",
            "postcode": postcode, "city": city, "other": "",
            "phone": f"+48 {self.rng.randint(500, 799)} {self.rng.randint(100, 999)} 100",
            "phone_mobile": "", "dni": "", "deleted": "0", "date_add": moment,
            "date_upd": moment})

    def change_order_state(self, order_id: int, state: int) -> Json:
        """A status change as the back office makes it (an order_history row)."""
        with self.lock:
            return self._add_history(int(order_id), int(state))

    def _add_history(self, order_id: int, state: int) -> Json:
        order = self.tables["orders"][order_id]
        target = self.tables["order_states"][state]
        moment = self._local_now()
        order.update(current_state=str(state), valid=target["logable"], date_upd=moment)
        if target["paid"] == "1":
            order["total_paid_real"] = order["total_paid_tax_incl"]
        return self._insert("order_histories", {"id_employee": "0",
                                                "id_order_state": str(state),
                                                "id_order": str(order_id), "date_add": moment})

    def update_order(self, order_id: int, *, bump: bool = True, **fields: Any) -> Json:
        with self.lock:
            order = self.tables["orders"][int(order_id)]
            order.update({k: str(v) for k, v in fields.items()})
            if bump:
                order["date_upd"] = self._local_now()
            return order

    def seed_demo(self, orders: int = 20, products: int = 30) -> None:
        with self.lock:
            self._demo = (orders, products)
            now = self.now()
            catalogue = []
            for n in range(products):
                created = now - timedelta(days=self.rng.randint(30, 300))
                catalogue.append(self.add_product(
                    f"PS-{n + 1:04d}", f"{self.rng.choice(PRODUCT_NAMES)} {n + 1}",
                    price_gross=Decimal(self.rng.randint(500, 20000)) / 100,
                    quantity=self.rng.randint(0, 80), created=created))
            for n in range(orders):
                picked = self.rng.sample(catalogue, k=min(len(catalogue), self.rng.randint(1, 3)))
                lines = [(p["reference"], self.rng.randint(1, 3), self.gross_price(p))
                         for p in picked]
                created = now - timedelta(minutes=self.rng.randint(60, 30 * 24 * 60))
                self.add_order(lines, email=f"klient{n}@example.pl",
                               state=self.rng.choice((2, 2, 3, 4, 5, 10, 6)), created=created)

    # -- HTTP entry point ---------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if not request.path.startswith(API_PREFIX.rstrip("/")):
            page = b"<html><body><h1>404 Nie znaleziono strony</h1></body></html>"
            return SandboxResponse(404, page, [("Content-Type", "text/html; charset=utf-8")])
        query = request.query
        wanted = (query.get("output_format") or query.get("io_format") or
                  request.header("output-format") or request.header("io-format"))
        json_out = wanted.upper() == "JSON"
        authenticated = False
        try:
            if not self.enabled:
                raise WsError(503, 22, "The PrestaShop webservice is disabled. Please activate it "
                                       "in the PrestaShop Back Office")
            permissions = self._authenticate(request)
            authenticated = True
            method = (query.get("ps_method") or request.method).upper()
            segments = [unquote(s) for s in request.path[len(API_PREFIX):].split("/") if s]
            if not segments:
                return self._output(200, {"api": sorted(permissions or RESOURCES)}, json_out, True)
            resource = self._resource(segments[0], permissions)
            self._check_method(resource, method, permissions)
            object_id = segments[1] if len(segments) > 1 else ""
            if method in ("GET", "HEAD"):
                if object_id:
                    return self._get_one(resource, object_id, query, json_out)
                return self._output(200, self._list(resource, query), json_out, True)
            return self._write(resource, method, request, json_out)
        except WsError as error:
            return self._error(error, json_out, authenticated)
        except Died as death:
            return SandboxResponse(200, str(death).encode(),
                                   [("Content-Type", "text/html; charset=utf-8")])

    # -- authentication and routing -----------------------------------------------------------

    def _authenticate(self, request: SandboxRequest) -> dict[str, set[str]] | None:
        key: str | None = request.query.get("ws_key")
        header = request.header("authorization")
        if key is None and header.lower().startswith("basic "):
            try:
                key = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")[0]
            except ValueError:
                key = ""
        challenge = [("WWW-Authenticate", 'Basic realm="Welcome to PrestaShop Webservice, please '
                                          'enter the authentication key as the login. No '
                                          'password required."')]
        if key is None:
            raise WsError(401, 16, "Please enter the authentication key as the login. No "
                                   "password required", challenge)
        key = key.strip()
        if not key:
            raise WsError(401, 17, "Authentication key is empty", challenge)
        if len(key) != 32:
            raise WsError(401, 18, "Invalid authentication key format", challenge)
        if key not in self.keys:
            raise WsError(401, 20, "Authentification key is not active", challenge)
        return self.keys[key]

    def _resource(self, name: str, permissions: dict[str, set[str]] | None) -> Resource:
        if name not in RESOURCES:
            raise WsError(400, 27, _did_you_mean(f'Resource of type "{name}" does not exists',
                                                 name, sorted(RESOURCES)))
        if permissions is not None and name not in permissions:
            raise WsError(401, 26, f'Resource of type "{name}" is not allowed with this '
                                   "authentication key")
        return RESOURCES[name]

    def _check_method(self, resource: Resource, method: str,
                      permissions: dict[str, set[str]] | None) -> None:
        # PATCH arrived with 8.0 (`WebserviceRequest::executeEntityPatch`); 1.7's
        # checkHTTPMethod lists GET, PUT, POST, DELETE and HEAD only.
        verbs = ("GET", "PUT", "POST", "DELETE", "HEAD") if self.version.startswith("1.") else \
            ("GET", "PUT", "POST", "PATCH", "DELETE", "HEAD")
        if method not in verbs:
            raise WsError(405, 23, f"Method {method} is not valid")
        if method not in resource.methods:
            raise WsError(405, 101, f"Method {method} is not allowed for the resource "
                                    f"{resource.name}")
        if permissions is not None and method not in permissions.get(resource.name, set()):
            raise WsError(405, 25, f"Method {method} is not allowed for the resource "
                                   f"{resource.name} with this authentication key")

    # -- reading ------------------------------------------------------------------------------

    def _list(self, resource: Resource, query: Mapping[str, str]) -> Any:
        dated = bool(query.get("date"))
        plain = [f for f in resource.all_fields if f not in resource.i18n]
        available = [f for f in plain if f not in ("date_add", "date_upd")]
        if dated:
            available += ["date_add", "date_upd"]
        records = list(self.tables[resource.name].values())
        for name, expression in self._filters(query):
            if name in resource.i18n:
                if expression != "":
                    records = [r for r in records if any(
                        _matches(text, expression, numeric=False) for text in r[name].values())]
                continue
            if name not in available:
                raise WsError(400, 32, _did_you_mean("This filter does not exist", name,
                                                     available))
            if expression == "":
                raise WsError(400, 33, f'The filter "{name}" is malformed.')
            numeric = name in resource.numeric
            records = [r for r in records if _matches(str(r.get(name, "")), expression, numeric)]
        display = self._display(resource, query.get("display"))
        records = self._sorted(resource, records, query.get("sort"), available)
        records = self._limited(records, query.get("limit"))
        if not records:
            return []  # PrestaShop/PrestaShop#10172, #22760: no wrapper for an empty list
        if display is None:
            return {resource.name: [{"id": r["id"]} for r in records]}
        return {resource.name: [self._render(resource, r, display) for r in records]}

    @staticmethod
    def _filters(query: Mapping[str, str]) -> list[tuple[str, str]]:
        return [(key[7:-1], value) for key, value in query.items()
                if key.startswith("filter[") and key.endswith("]")]

    def _display(self, resource: Resource, value: str | None) -> tuple[str, ...] | None:
        """None: ids only; else the fields to show (`full` = all plus associations)."""
        if value is None or value == "minimum":
            return None
        if value == "full":
            return (*resource.all_fields, "associations")
        found = re.fullmatch(r"\[(.*)\]", value)
        if not found:
            raise WsError(400, 36, "The 'display' syntax is wrong. You can set 'full' or "
                                   "'[field_1,field_2,field_3,...]'. These are available: "
                          + ", ".join(resource.all_fields))
        names = tuple(part.strip() for part in found.group(1).split(",") if part.strip())
        for name in names:
            if name not in resource.all_fields:
                raise WsError(400, 35, f'Unable to display this field "{name}". However, these '
                                       f"are available: {', '.join(resource.all_fields)}")
        return names

    def _sorted(self, resource: Resource, records: list[Json], value: str | None,
                available: list[str]) -> list[Json]:
        records = sorted(records, key=lambda r: r["id"])
        if not value:
            return records
        found = re.fullmatch(r"\[(.*)\]", value)
        parts = found.group(1).split(",") if found else [value]
        keys: list[tuple[str, bool]] = []
        for part in parts:
            field_name, _, direction = part.strip().rpartition("_")
            if not field_name or direction.upper() not in ("ASC", "DESC"):
                raise WsError(400, 37, 'The "sort" value has to be formed as this example: '
                                       '"field_ASC" or \'[field_1_DESC,field_2_ASC,field_3_ASC,'
                                       '...]\' ("field" has to be an available field)')
            if field_name not in available and field_name not in resource.i18n:
                raise WsError(400, 38, "Unable to filter by this field. However, these are "
                                       f"available: {', '.join(available)}, for i18n fields:"
                              + ", ".join(sorted(resource.i18n)))
            keys.append((field_name, direction.upper() == "DESC"))
        for field_name, descending in reversed(keys):  # stable sorts, last key first
            numeric = field_name in resource.numeric

            def key(record: Json, name: str = field_name, num: bool = numeric) -> Any:
                value = record.get(name, "")
                if isinstance(value, dict):
                    value = value.get("1", "")
                if name == "id":
                    return int(value)
                number = _num(value) if num else None
                return (0, number) if number is not None else (1, str(value).lower())

            records.sort(key=key, reverse=descending)
        return records

    @staticmethod
    def _limited(records: list[Json], value: str | None) -> list[Json]:
        if value is None:
            return records
        parts = value.split(",")
        if len(parts) > 2:
            raise WsError(400, 39, 'The "limit" value has to be formed as this example: "5,25" '
                                   'or "10"')
        numbers = [_intval(p) for p in parts]
        if len(numbers) == 1:
            return records[:max(numbers[0], 0)]
        start, count = max(numbers[0], 0), max(numbers[1], 0)
        return records[start:start + count]

    def _get_one(self, resource: Resource, object_id: str, query: Mapping[str, str],
                 json_out: bool) -> SandboxResponse:
        record = self.tables[resource.name].get(_intval(object_id))
        if record is None:
            # getFilteredObjectDetails: status 404 and the output switched off.
            return SandboxResponse(404, b"", self._headers(json_out, True))
        display = self._display(resource, query.get("display")) or \
            (*resource.all_fields, "associations")
        rendered = self._render(resource, record, display)
        if json_out and "display" in query:
            # WebserviceOutputJSON::renderNodeFooter: with `display` in the query string even
            # one object comes in the list wrapper, `{"orders": [{…}]}`.
            return self._output(200, {resource.name: [rendered]}, json_out, True)
        return self._output(200, {resource.element: rendered}, json_out, True)

    def _render(self, resource: Resource, record: Json, display: tuple[str, ...]) -> Json:
        out: Json = {}
        for name in resource.all_fields:
            if name not in display:
                continue
            value = record.get(name, "")
            if name == "id":
                out["id"] = record["id"]
            elif name in resource.i18n:
                values = value if isinstance(value, dict) else {}
                languages = [{"id": lang, "value": values.get(lang, "")}
                             for lang in self.language_ids]
                out[name] = languages[0]["value"] if len(languages) == 1 else languages
            else:
                out[name] = value if isinstance(value, str) else str(value)
        if "associations" in display:
            associations = self._associations(resource, record)
            if associations:
                out["associations"] = associations
        return out

    def _associations(self, resource: Resource, record: Json) -> Json:
        if resource.name == "products":
            stock = [{"id": str(r["id"]), "id_product_attribute": r["id_product_attribute"]}
                     for r in self.tables["stock_availables"].values()
                     if r["id_product"] == str(record["id"])]
            return {"categories": [{"id": record.get("id_category_default") or "2"}],
                    "stock_availables": stock}
        if resource.name == "orders":
            return {"order_rows": [dict(row) for row in record.get("_rows", [])]}
        return {}

    # -- writing ------------------------------------------------------------------------------

    def _write(self, resource: Resource, method: str, request: SandboxRequest,
               json_out: bool) -> SandboxResponse:
        body = request.body
        try:
            element, fields = xmlbody.parse_document(body)
        except (ET.ParseError, ValueError) as error:
            text = body.decode("utf-8", "replace")
            raise WsError(500, 127, f"XML error : String could not be parsed as XML\n"
                                    f"XML length : {len(text)}\nOriginal XML : {text}") from error
        del element  # SimpleXML takes the children of <prestashop> whatever they are called
        given_id = str(fields.get("id", "")).strip()
        if method == "POST":
            if given_id:
                raise WsError(400, 91, "id is forbidden when adding a new resource")
            record: Json = {}
        else:
            if not given_id:
                raise WsError(400, 90, "id is required when modifying a resource")
            existing = self.tables[resource.name].get(_intval(given_id))
            if existing is None:
                raise WsError(404, 92, "Invalid ID")
            record = dict(existing)
        changes = self._apply_fields(resource, method, record, fields)
        saved = self._save(resource, method, record, changes)
        status = 201 if method == "POST" else 200
        display = (*resource.all_fields, "associations")
        return self._output(status, {resource.element: self._render(resource, saved, display)},
                            json_out, True)

    def _apply_fields(self, resource: Resource, method: str, record: Json,
                      fields: Mapping[str, Any]) -> Json:
        """saveEntityFromXml, field by field in the resource's order."""
        changes: Json = {}
        for name in resource.fields:
            present = name in fields
            if method == "PATCH" and not present:
                continue
            if name in resource.read_only:
                if present:
                    raise WsError(400, 93, f'parameter "{name}" not writable. Please remove this '
                                           "attribute of this XML")
                continue
            if name in resource.i18n:
                current = dict(record.get(name) or {})
                given = fields.get(name)
                if isinstance(given, Mapping):
                    current.update({str(k): str(v) for k, v in given.items()})
                elif present:
                    current = {lang: str(given or "") for lang in self.language_ids}
                else:  # PUT without it: the object's value becomes empty
                    current = dict.fromkeys(self.language_ids, "")
                changes[name] = current
                continue
            if present:
                changes[name] = str(fields[name])
            elif name in resource.required:
                raise WsError(400, 41, f'parameter "{name}" required')
            elif method == "PUT":
                changes[name] = ""  # PUT is not partial: what is left out is emptied
        self._validate(resource, method, {**record, **changes}, changes)
        return changes

    def _validate(self, resource: Resource, method: str, merged: Json, changes: Json) -> None:
        cls = _CLASSES.get(resource.element, resource.element.title().replace("_", ""))

        def invalid(name: str) -> WsError:
            return WsError(400, 85, f'Validation error: "Property {cls}->{name} is not valid"')

        checks: dict[str, Callable[[str], bool]] = {
            "price": lambda v: bool(_PRICE.match(v)),
            "ean13": lambda v: v == "" or bool(re.fullmatch(r"[0-9]{0,13}", v)),
            "weight": lambda v: v == "" or bool(_UNSIGNED_FLOAT.match(v)),
            "active": lambda v: v in ("", "0", "1"),
            "reference": lambda v: len(v) <= 64 and bool(_REFERENCE.match(v)),
            "id_tax_rules_group": lambda v: v == "" or v.isdigit(),
            "quantity": lambda v: bool(_INT.match(v)),
            "id_order": lambda v: v.isdigit(),
            "id_order_state": lambda v: v.isdigit(),
            "id_product": lambda v: v.isdigit(),
        }
        for name, value in changes.items():
            check = checks.get(name)
            if check is not None and isinstance(value, str) and not check(value.strip()):
                raise invalid(name)
        if resource.name == "products":
            for field_name, valid in (("name", _catalog_name_ok),
                                      ("description", mapping.is_clean_html),
                                      ("description_short", mapping.is_clean_html)):
                for text in (changes.get(field_name) or {}).values():
                    if not valid(text):  # validateFieldsLang → code 84
                        raise WsError(400, 84, f'Validation error: "Property Product->'
                                               f'{field_name} is not valid"')
            for text in (changes.get("name") or {}).values():
                if len(text) > mapping.NAME_MAX:
                    raise WsError(400, 84, 'Validation error: "Property Product->name length '
                                           f'({len(text)}) must be between 0 and '
                                           f'{mapping.NAME_MAX}"')
            names = merged.get("name") or {}
            if not (names.get("1") or "").strip():
                raise WsError(400, 84, 'Validation error: "Property Product->name is empty for '
                                       'default language."')
        if resource.name == "order_histories" and (
                _intval(merged["id_order"]) not in self.tables["orders"]
                or _intval(merged["id_order_state"]) not in self.tables["order_states"]):
            # OrderHistory::changeIdOrderState dies before the Webservice writes anything.
            raise Died("Invalid new order status")

    def _save(self, resource: Resource, method: str, record: Json, changes: Json) -> Json:
        now = self._local_now()
        if resource.name == "order_histories":
            return self._add_history(_intval(changes["id_order"]),
                                     _intval(changes["id_order_state"]))
        created_at = record.get("date_add")
        record.update(changes)
        if resource.name == "products":
            if method == "POST":
                record = {**self._product_defaults(now), **{k: v for k, v in record.items()
                                                            if v not in ("", None)}}
                if not any((record.get("link_rewrite") or {}).values()):
                    record["link_rewrite"] = {lang: _slug(text) for lang, text
                                              in record["name"].items()}
            self._store_forms(record, changes)
            record["date_upd"] = now  # ObjectModel::update() stamps every save
            record["date_add"] = record.get("date_add") or created_at or now
        if method == "POST":
            saved = self._insert(resource.name, record)
            if resource.name == "products":
                self._insert("stock_availables", {
                    "id_product": str(saved["id"]), "id_product_attribute": "0", "id_shop": "1",
                    "id_shop_group": "0", "quantity": "0", "depends_on_stock": "0",
                    "out_of_stock": "2", "location": ""})
            return saved
        # A stock_available save leaves its product alone (PrestaShop/PrestaShop#20465).
        self.tables[resource.name][record["id"]] = record
        return record

    def _store_forms(self, record: Json, changes: Json) -> None:
        """What `ObjectModel::formatValue` makes of a product's values on the way to MySQL:
        floats into DECIMAL(20,6), TYPE_STRING through `pSQL()` (`Db::escape`:
        `strip_tags(Tools::nl2br())`, so line breaks vanish), TYPE_HTML through
        `Tools::purifyHTML` when PS_USE_HTMLPURIFIER is on."""
        for name in _PRODUCT_FLOATS & changes.keys():
            number = _num(record.get(name) or "0")
            record[name] = f"{number if number is not None else Decimal(0):.6f}"
        for name in ("name",) if "name" in changes else ():
            record[name] = {lang: _LINE_BREAK.sub("", text) for lang, text in
                            record[name].items()}
        if self.html_purifier:
            for name in ("description", "description_short"):
                if name in changes:
                    record[name] = {lang: purify(text) for lang, text in record[name].items()}

    # -- output -------------------------------------------------------------------------------

    def _headers(self, json_out: bool, authenticated: bool) -> list[tuple[str, str]]:
        headers = [("Content-Type", "application/json" if json_out else
                    "text/xml;charset=utf-8"),
                   ("X-Powered-By", "PrestaShop Webservice"),
                   ("Access-Time", str(int(time.time()))), ("Execution-Time", "0.004")]
        if authenticated:
            headers.append(("PSWS-Version", self.version))
        return headers

    def _output(self, status: int, payload: Any, json_out: bool,
                authenticated: bool) -> SandboxResponse:
        body = orjson.dumps(payload) if json_out else _to_xml(payload)
        return SandboxResponse(status, body, self._headers(json_out, authenticated))

    def _error(self, error: WsError, json_out: bool, authenticated: bool) -> SandboxResponse:
        headers = self._headers(json_out, authenticated) + error.headers
        if json_out:
            body = orjson.dumps({"errors": [{"code": error.code, "message": error.message}]})
        else:
            root = ET.Element("prestashop", {"xmlns:xlink": xmlbody.XLINK})
            item = ET.SubElement(ET.SubElement(root, "errors"), "error")
            ET.SubElement(item, "code").text = str(error.code)
            ET.SubElement(item, "message").text = error.message
            body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)
        return SandboxResponse(error.status, body, headers)


def _intval(value: Any) -> int:
    match = re.match(r"\s*[+-]?\d+", str(value))
    return int(match.group(0)) if match else 0


def _slug(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name.replace("ł", "l").replace("Ł", "L"))
    return re.sub(r"[^a-z0-9]+", "-", folded.encode("ascii", "ignore").decode().lower()).strip("-")


def _compare(value: str, other: str, numeric: bool) -> int:
    if numeric:
        left, right = _num(value), _num(other)
        if left is not None and right is not None:
            return (left > right) - (left < right)
    a, b = value.lower(), other.lower()
    return (a > b) - (a < b)


def _matches(value: str, expression: str, numeric: bool) -> bool:
    """SQLUtils::getSQLRetrieveFilter, evaluated in Python (MySQL's case-insensitive collation)."""
    found = _FILTER.match(expression)
    if not found:
        return _compare(value, expression, numeric) == 0
    before, inner, after = found.groups()
    if before == "%" or after == "%":
        pattern = re.escape(before + inner + after).replace("%", ".*")
        return re.fullmatch(pattern, value, re.I | re.S) is not None
    if before == "" and after == "":
        if inner.find("|") > 0:
            return any(_compare(value, option, numeric) == 0 for option in inner.split("|"))
        interval = _INTERVAL.match(inner)
        if interval:
            low, high = sorted(interval.groups())  # PHP sort(): as strings here
            return _compare(value, low, numeric) >= 0 and _compare(value, high, numeric) <= 0
        return _compare(value, inner, numeric) == 0
    if before == ">":
        return _compare(value, inner, numeric) > 0
    if before == "<":
        return _compare(value, inner, numeric) < 0
    if before == "!":
        return all(_compare(value, option, numeric) != 0 for option in inner.split("|"))
    return False


def _to_xml(payload: Any) -> bytes:
    """The default (XML) output, for a client that does not ask for JSON."""
    root = ET.Element("prestashop", {"xmlns:xlink": xmlbody.XLINK})
    if isinstance(payload, dict):
        for wrapper, content in payload.items():
            node = ET.SubElement(root, wrapper)
            if isinstance(content, list):
                element = wrapper[:-1] if wrapper.endswith("s") else wrapper
                for item in content:
                    _xml_object(ET.SubElement(node, element), item)
            elif isinstance(content, dict):
                _xml_object(node, content)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)


def _xml_object(node: ET.Element, item: Any) -> None:
    if not isinstance(item, dict):
        node.text = str(item)
        return
    if set(item) == {"id"}:
        node.set("id", str(item["id"]))
        return
    for name, value in item.items():
        child = ET.SubElement(node, name)
        if isinstance(value, list) and name != "associations":
            for entry in value:
                ET.SubElement(child, "language", {"id": str(entry.get("id"))}).text = \
                    str(entry.get("value") or "")
        elif isinstance(value, dict):
            for assoc, entries in value.items():
                holder = ET.SubElement(child, assoc)
                for entry in entries:
                    _xml_object(ET.SubElement(holder, assoc[:-1]), entry)
        else:
            child.text = "" if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# Command-line entry (wired as `iluo-sync sandbox prestashop`)


def serve_forever(
    host: str,
    port: int,
    *,
    seed_orders: int,
    seed_products: int,
    consumer_key: str,
    consumer_secret: str | None = None,
    error_rate: float = 0.0,
    rate_limit_rate: float = 0.0,
    latency_ms: int = 0,
) -> None:
    """Seed, serve, print one line with the URL and key, block until Ctrl-C or SIGTERM.

    `consumer_secret` is ignored (the Webservice has a key only). PrestaShop accepts only keys
    of exactly 32 characters; another one is replaced by DEFAULT_KEY (printed).
    """
    del consumer_secret
    key = consumer_key if len(consumer_key or "") == 32 else DEFAULT_KEY
    faults = Faults(error_rate=error_rate, rate_limit_rate=rate_limit_rate, latency_ms=latency_ms)
    sandbox = PrestaShopSandbox(key, faults=faults)
    sandbox.seed_demo(orders=seed_orders, products=seed_products)
    serve_until_stopped(
        sandbox, host, port,
        lambda handle: (
            f"PrestaShop sandbox at {sandbox.api_url(handle)} key={key} "
            f"(shop base_url {handle.base_url}; control: {handle.base_url}/__sandbox/state)"
        ),
    )
