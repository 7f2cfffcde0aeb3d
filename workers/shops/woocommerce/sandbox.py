"""A faithful WooCommerce REST API v3 emulator (orders, products) served over real HTTP.

Public API:

    WooCommerceSandbox(consumer_key="ck_sandbox", consumer_secret="cs_sandbox", *,
                       site_timezone="Europe/Warsaw", tls=False, permissions="read_write",
                       currency="PLN", vat_rate="23", prices_include_tax=True,
                       stock_write_bumps_modified=False, wc_version="9.4.0", faults=None,
                       seed=0)
        .serve(host="127.0.0.1", port=0) -> SandboxHandle      (from workers.shops.sandbox)
        .api_url(handle) -> str                                  ".../wp-json/wc/v3/"
        .add_product(**fields) -> dict          (fields as in POST /products; plus created=,
                                                 variations=[{sku, regular_price, ...}])
        .add_order(sku_lines=[(sku, qty, unit_price)], *, email=None, status="processing",
                   created=None, modified=None, shipping_cost="14.99", **fields) -> dict
        .update_order(order_id, *, bump_modified=True, **fields) -> dict
        .update_product(product_id, *, bump_modified=None, **fields) -> dict  (None: REST rule)
        .set_stock(product_id, quantity) -> dict    (stock moved by a sale: never bumps dates)
        .seed_demo(orders=20, products=30) -> None  (Polish-looking data, reproducible)
        .orders / .products / .variations           (id -> stored object, as the API shows it)
        .now: Callable[[], datetime]                (aware clock for object dates; settable)
        .auth_time: Callable[[], float]             (unix clock for the OAuth timestamp window)
        + everything of `Sandbox`: faults, log, on_request, reset(), /__sandbox/ endpoints.

    serve_forever(host, port, *, seed_orders, seed_products, consumer_key, consumer_secret,
                  error_rate, rate_limit_rate, latency_ms) -> None

Behaviour reproduced (sources: woocommerce/woocommerce `WC_REST_Authentication`,
`WC_REST_Controller::batch_items/check_batch_limit`, `WC_REST_CRUD_Controller`,
`WC_Product::set_sku`; WordPress `WP_REST_Request::has_valid_params`, `WP_Date_Query`):
- auth: OAuth 1.0a one-legged over plain HTTP (query or `Authorization: OAuth` header, HMAC-SHA1/
  SHA256, key `secret&`, timestamp ±15 min, nonce replay refused — nonces remembered per
  timestamp as WooCommerce does); Basic or `?consumer_key=&consumer_secret=` only when `tls=True`;
  errors `{"code","message","data":{"status":401}}`; no login: 401 `woocommerce_rest_cannot_*`.
- check order: auth error → key permissions → route (404 `rest_no_route`) → JSON / params (400)
  → login required (401) → handler.
- lists: page, per_page (1..100), offset, order, orderby (+ ID tie-breaker), include, exclude,
  status, after/before (creation), modified_after/modified_before (exclusive bounds; site-local
  columns unless `dates_are_gmt`; a bound carrying an offset is first converted to site-local
  time, as WP_Date_Query does), products: sku (exact, comma list), slug, type, stock_status,
  search; headers X-WP-Total, X-WP-TotalPages, RFC 5988 Link (prev/next).
- batch: >100 items in total → 413; per-item errors inside HTTP 200; empty batch answers `[]`;
  batch items skip schema validation (a float stock is truncated, as `intval` does).
- products: duplicate SKU → 400 `product_invalid_sku` with `resource_id` and `unique_sku`;
  a stock-only write (stock_quantity / manage_stock / stock_status) does not bump
  `date_modified` (woocommerce#19427, #40060); current WooCommerce data-store code does bump on
  a REST save, so `stock_write_bumps_modified=True` gives that behaviour. Single-object writes are
  schema-checked (a float `stock_quantity` or a numeric `regular_price` is 400).
- money: amounts are strings ("12.30"); a line item's `price` is a JSON number, as WooCommerce
  sends it; prices include VAT (`vat_rate`, default 23 %) and totals add up.
- orders: `date_paid` set on the move to processing/completed, `date_completed` on completed;
  every REST save bumps `date_modified`; `update_order(..., bump_modified=False)` imitates edits
  that do not (woocommerce/woocommerce#34798).
- reads: `context=view` (default) renders product descriptions through wpautop, `edit` answers
  the stored text; writes answer in `edit`. `_fields` limits answers. `include` keeps `per_page`.
- writes: name/description/short_description stored through `wp_filter_post_kses` (stripslashes,
  entities normalised, disallowed tags and `<…>` junk dropped), SKU and GTIN through `wc_clean`.
- orders over REST: a line whose SKU/id finds no product has product_id 0, `sku` null and the
  posted name (or ""); a line with no reference at all is 400.
- `wc_version`: below 9.2 there is no `global_unique_id`.
Every behaviour is cited in docs/fidelity/woocommerce.md.
Left out: variations writes, coupons/fees/refunds logic, customers, OPTIONS discovery, PHP array
query params (`a[b]=`).
"""

from __future__ import annotations

import copy
import hmac
import math
import random
import re
import time
import unicodedata
from base64 import b64decode
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus, urlencode
from zoneinfo import ZoneInfo

import orjson

from workers.shops.sandbox import (
    Faults,
    Sandbox,
    SandboxHandle,
    SandboxRequest,
    SandboxResponse,
    json_response,
    serve_until_stopped,
)
from workers.shops.woocommerce import oauth
from workers.shops.woocommerce.hooks import WooWebhooks

REST_PREFIX = "/wp-json/"
NAMESPACE = "wc/v3"
MAX_PER_PAGE = 100
BATCH_LIMIT = 100
OAUTH_WINDOW = 15 * 60
ORDER_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
)
PAID_STATUSES = ("processing", "completed")
PRODUCT_STATUSES = ("draft", "pending", "private", "publish")
STOCK_FIELDS = frozenset({"stock_quantity", "manage_stock", "stock_status"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CENT = Decimal("0.01")
Json = dict[str, Any]


class WooError(Exception):
    """A WP_Error: rendered as `{"code","message","data":{"status",...}}`."""

    def __init__(self, code: str, message: str, status: int, **data: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.data = code, message, status, data

    def item(self) -> Json:
        return {
            "code": self.code,
            "message": self.message,
            "data": {"status": self.status, **self.data},
        }

    def response(self) -> SandboxResponse:
        return json_response(self.status, self.item())


# ---------------------------------------------------------------------------------------------
# Small value helpers


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def trimmed(value: Decimal) -> str:
    """Tax amounts inside `taxes[]` come unpadded ("0.9"), as in the documented payloads."""
    return format(value.quantize(CENT, ROUND_HALF_UP).normalize(), "f")


def decimal_or_none(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        return None


def intval(value: Any) -> int:
    """PHP intval: leading number, truncated; anything else 0 (WooCommerce's `wc_stock_amount`)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    match = re.match(r"\s*[+-]?\d+(\.\d*)?", str(value))
    return int(float(match.group(0))) if match else 0


def php_bool(value: Any) -> bool:
    """wc_string_to_bool: true, 1, "1", "yes", "true"."""
    return value is True or value == 1 or str(value).lower() in ("1", "yes", "true")


def fold_ascii(text: str) -> str:
    text = text.replace("ł", "l").replace("Ł", "L")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold_ascii(text).lower()).strip("-") or "item"


def naive_iso(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# Parameter validation the way WordPress reports it


@dataclass(frozen=True, slots=True)
class Arg:
    type: str  # integer | string | boolean | date-time | array
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] | None = None
    item_type: str = "integer"  # for arrays


class ParamError(Exception):
    def __init__(self, code: str, message: str, data: Json | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:\d{2})?)?$"
)  # rest_parse_date


def _wp_list(values: Sequence[str]) -> str:
    """wp_sprintf's %l: "a, b, and c"."""
    if len(values) <= 2:
        return " and ".join(values)
    return ", ".join(values[:-1]) + ", and " + values[-1]


def _check_integer(name: str, value: Any, arg: Arg) -> int:
    if isinstance(value, bool) or not (
        isinstance(value, int)
        or (isinstance(value, float) and value.is_integer())
        or (isinstance(value, str) and _NUMERIC.match(value) and float(value).is_integer())
    ):
        raise ParamError("rest_invalid_type", f"{name} is not of type integer.", {"param": name})
    number = int(float(value))
    if (
        arg.minimum is not None
        and arg.maximum is not None
        and not arg.minimum <= number <= arg.maximum
    ):
        raise ParamError(
            "rest_out_of_bounds",
            f"{name} must be between {arg.minimum} (inclusive) and {arg.maximum} (inclusive)",
        )
    if arg.minimum is not None and number < arg.minimum:
        raise ParamError(
            "rest_out_of_bounds", f"{name} must be greater than or equal to {arg.minimum}"
        )
    return number


def _check_value(name: str, value: Any, arg: Arg) -> Any:
    if arg.type == "integer":
        return _check_integer(name, value, arg)
    if arg.type == "boolean":
        if value in (True, False, 0, 1) or (
            isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "")
        ):
            return php_bool(value)
        raise ParamError("rest_invalid_type", f"{name} is not of type boolean.", {"param": name})
    if arg.type == "date-time":
        if not isinstance(value, str) or not _RFC3339.match(value):
            raise ParamError("rest_invalid_date", "Invalid date.")
        return value
    if arg.type == "array":
        items = (
            value
            if isinstance(value, list)
            else [part for part in re.split(r"[\s,]+", str(value)) if part]
        )
        item_arg = Arg(arg.item_type, enum=arg.enum)
        return [
            _check_value(f"{name}[{index}]", item, item_arg) for index, item in enumerate(items)
        ]
    if not isinstance(value, str):
        raise ParamError("rest_invalid_type", f"{name} is not of type string.", {"param": name})
    if arg.enum is not None and value not in arg.enum:
        raise ParamError(
            "rest_not_in_enum_list", f"{name} is not one of {_wp_list(list(arg.enum))}."
        )
    return value


def validate_params(params: Mapping[str, Any], spec: Mapping[str, Arg]) -> dict[str, Any]:
    """Check `params` against `spec` and raise WordPress's 400 `rest_invalid_param` on failure."""
    valid: dict[str, Any] = {}
    invalid: dict[str, str] = {}
    details: dict[str, Json] = {}
    for name, arg in spec.items():
        if name not in params:
            continue
        try:
            valid[name] = _check_value(name, params[name], arg)
        except ParamError as error:
            invalid[name] = error.message
            details[name] = {"code": error.code, "message": error.message, "data": error.data}
    if invalid:
        raise WooError(
            "rest_invalid_param",
            f"Invalid parameter(s): {', '.join(invalid)}",
            400,
            params=invalid,
            details=details,
        )
    return valid


def _collection_args(orderby: tuple[str, ...]) -> dict[str, Arg]:
    return {
        "context": Arg("string", enum=("view", "edit")),
        "page": Arg("integer", minimum=1),
        "per_page": Arg("integer", minimum=1, maximum=MAX_PER_PAGE),
        "search": Arg("string"),
        "after": Arg("date-time"),
        "before": Arg("date-time"),
        "modified_after": Arg("date-time"),
        "modified_before": Arg("date-time"),
        "dates_are_gmt": Arg("boolean"),
        "exclude": Arg("array"),
        "include": Arg("array"),
        "offset": Arg("integer"),
        "order": Arg("string", enum=("asc", "desc")),
        "orderby": Arg("string", enum=orderby),
        "parent": Arg("array"),
        "parent_exclude": Arg("array"),
    }


ORDER_LIST_ARGS = {
    **_collection_args(("date", "id", "include", "title", "slug", "modified")),
    "status": Arg("array", enum=("any", "trash", *ORDER_STATUSES), item_type="string"),
    "customer": Arg("integer"),
    "product": Arg("integer"),
    "dp": Arg("integer"),
}
PRODUCT_LIST_ARGS = {
    **_collection_args(
        (
            "date",
            "modified",
            "id",
            "include",
            "title",
            "slug",
            "price",
            "popularity",
            "rating",
            "menu_order",
        )
    ),
    "slug": Arg("string"),
    "status": Arg("string", enum=("any", "future", "trash", *PRODUCT_STATUSES)),
    "type": Arg("string", enum=("simple", "grouped", "external", "variable")),
    "sku": Arg("string"),
    "featured": Arg("boolean"),
    "stock_status": Arg("string", enum=("instock", "outofstock", "onbackorder")),
}
VARIATION_LIST_ARGS = _collection_args(
    ("date", "modified", "id", "include", "title", "slug", "menu_order")
)
PRODUCT_BODY_ARGS = {
    "name": Arg("string"),
    "slug": Arg("string"),
    "type": Arg("string", enum=("simple", "grouped", "external", "variable")),
    "status": Arg("string", enum=PRODUCT_STATUSES),
    "sku": Arg("string"),
    "regular_price": Arg("string"),
    "sale_price": Arg("string"),
    "description": Arg("string"),
    "short_description": Arg("string"),
    "manage_stock": Arg("boolean"),
    "stock_quantity": Arg("integer"),
    "stock_status": Arg("string", enum=("instock", "outofstock", "onbackorder")),
    "backorders": Arg("string", enum=("no", "notify", "yes")),
    "weight": Arg("string"),
}
ORDER_BODY_ARGS = {
    "status": Arg("string", enum=ORDER_STATUSES),
    "customer_note": Arg("string"),
    "customer_id": Arg("integer"),
    "payment_method": Arg("string"),
    "payment_method_title": Arg("string"),
    "transaction_id": Arg("string"),
    "set_paid": Arg("boolean"),
}


# ---------------------------------------------------------------------------------------------
# What WordPress/WooCommerce do to text on the way in and out (read from WordPress
# src/wp-includes/kses.php, formatting.php and WooCommerce wc-formatting-functions.php; the
# fidelity sheet docs/fidelity/woocommerce.md names the functions). Emulations, not copies.

#: `$allowedposttags` elements (wp-includes/kses.php), enough for product descriptions.
KSES_POST_TAGS = frozenset(
    ["a", "abbr", "acronym", "address", "area", "article", "aside", "audio", "b", "bdo", "big",
     "blockquote", "br", "button", "caption", "cite", "code", "col", "colgroup", "dd", "del",
     "details", "dfn", "div", "dl", "dt", "em", "fieldset", "figcaption", "figure", "font",
     "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "i", "img", "ins",
     "kbd", "label", "legend", "li", "main", "map", "mark", "menu", "nav", "object", "ol", "p",
     "pre", "q", "rb", "rp", "rt", "rtc", "ruby", "s", "samp", "section", "small", "span", "strike",
     "strong", "sub", "summary", "sup", "table", "tbody", "td", "textarea", "tfoot", "th", "thead",
     "title", "tr", "track", "tt", "u", "ul", "var", "video"]
)
#: Attributes kses keeps per element (a subset of `$allowedposttags`; `*` = the global
#: attributes `_wp_add_global_attributes` adds to every element, `style` left out).
KSES_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "*": frozenset({"class", "id", "title", "lang", "dir", "role", "xml:lang"}),
    "a": frozenset({"href", "rel", "rev", "name", "target", "download", "hreflang", "media",
                    "type"}),
    "img": frozenset({"src", "alt", "width", "height", "align", "border", "hspace", "vspace",
                      "loading", "srcset", "sizes", "decoding", "longdesc", "usemap"}),
}
_KSES_SPLIT = re.compile(r"(<!--.*?(?:-->|$))|(<[^>]*(?:>|$)|>)", re.DOTALL)
_KSES_ELEMENT = re.compile(r"^<\s*(/\s*)?([a-zA-Z0-9-]+)([^>]*)>?$", re.DOTALL)
_KSES_ATTR = re.compile(
    r"""([-a-zA-Z:]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"']+)))?""")
_KSES_ENTITY = re.compile(r"&([A-Za-z]{2,8}[0-9]{0,2}|#[0-9]+|#[xX][0-9A-Fa-f]+);")
_KSES_NAMED = frozenset({"amp", "lt", "gt", "quot", "apos", "nbsp", "ndash", "mdash", "hellip",
                         "laquo", "raquo", "bdquo", "rdquo", "ldquo", "copy", "reg", "trade",
                         "euro", "deg", "times", "frac12", "shy"})


def _kses_entities(text: str) -> str:
    """wp_kses_normalize_entities: every `&` that does not start a valid entity becomes `&amp;`."""
    out, position = [], 0
    for found in re.finditer("&", text):
        if found.start() < position:
            continue
        entity = _KSES_ENTITY.match(text, found.start())
        out.append(text[position:found.start()])
        name = entity.group(1) if entity else ""
        valid = name in _KSES_NAMED or (
            name.startswith("#") and _valid_code_point(name[1:]))
        if entity and valid:
            out.append(entity.group(0))
            position = entity.end()
        else:
            out.append("&amp;")
            position = found.end()
    out.append(text[position:])
    return "".join(out)


def _valid_code_point(digits: str) -> bool:
    number = int(digits[1:], 16) if digits[:1] in ("x", "X") else int(digits)
    return number in (0x9, 0xA, 0xD) or 0x20 <= number <= 0xD7FF or (
        0xE000 <= number <= 0x10FFFF and number not in (0xFFFE, 0xFFFF))


def _kses_tag(token: str) -> str:
    """wp_kses_split2 + wp_kses_attr for one token of wp_kses_split."""
    if not token.startswith("<"):
        return "&gt;"  # a lone ">"
    if token.startswith("<!--"):
        return token  # comments survive (their inside is filtered again; not needed here)
    found = _KSES_ELEMENT.match(token)
    if found is None:
        return ""  # "seriously malformed": dropped with everything up to the next ">"
    slash, element, attributes = (found.group(1) or "").strip(), found.group(2), found.group(3)
    if element.lower() not in KSES_POST_TAGS:
        return ""  # an element not allowed is dropped (no strip_tags: its text stays)
    if slash:
        return f"</{element}>"
    xhtml = " /" if re.search(r"/\s*$", attributes) else ""
    allowed = KSES_ATTRIBUTES["*"] | KSES_ATTRIBUTES.get(element.lower(), frozenset())
    kept, seen = [], set()
    for match in _KSES_ATTR.finditer(attributes.rstrip("/ ")):
        name = match.group(1).lower()
        if name in seen or name not in allowed:
            continue
        seen.add(name)
        value = next((v for v in match.group(2, 3, 4) if v is not None), None)
        if value is None:
            kept.append(name)
        elif name in ("href", "src") and not re.match(r"(?i)(https?|mailto|ftp|tel):|[/#?]", value):
            continue  # wp_kses_bad_protocol would strip the protocol; dropped here
        else:
            kept.append(f'{name}="{value}"')
    return "<" + element + "".join(" " + k for k in kept) + xhtml + ">"


def filter_post_kses(text: str) -> str:
    """wp_filter_post_kses as WooCommerce calls it on unslashed REST input: stripslashes, then
    wp_kses(…, 'post') — no_null, normalize_entities, split — then addslashes, which
    wp_insert_post's wp_unslash takes off again. Net effect as stored is returned."""
    text = re.sub(r"\\(.?)", lambda m: "\x00" if m.group(1) == "0" else m.group(1), text,
                  flags=re.DOTALL)  # PHP stripslashes
    text = re.sub(r"[\x00-\x08\x0B\x0C\x0E-\x1F]", "", text)  # wp_kses_no_null
    text = _kses_entities(text)
    return _KSES_SPLIT.sub(lambda m: _kses_tag(m.group(0)), text)


def wc_clean(value: str) -> str:
    """wc_clean → sanitize_text_field: tags stripped, whitespace runs folded, %xx removed, trim."""
    if "<" in value:
        value = re.sub(r"<[^>]*>?", "", re.sub(r"<(?=[^a-zA-Z/!?])", "&lt;", value))
    value = re.sub(r"[\r\n\t ]+", " ", value).strip()
    found = False
    while (octet := re.search(r"%[a-fA-F0-9]{2}", value)) is not None:
        value, found = value.replace(octet.group(0), ""), True
    return re.sub(r" +", " ", value).strip() if found else value


def wpautop(text: str) -> str:
    """wpautop, simplified to what matters to a reader of the API: blank-line separated blocks
    become `<p>…</p>\n`, single line breaks inside them `<br />\n`."""
    if not text.strip():
        return ""
    blocks = [b.strip("\n") for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if b.strip()]
    return "".join("<p>" + block.replace("\n", "<br />\n") + "</p>\n" for block in blocks)


def only_fields(rendered: Json, fields: str | None) -> Json:
    """WordPress `_fields` (rest_filter_response_fields): keep the listed top-level keys and
    dotted sub-keys only; `_links` goes too unless listed."""
    if not fields:
        return rendered
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    kept: Json = {}
    for path in wanted:
        head, _, rest = path.partition(".")
        if head not in rendered:
            continue
        if not rest or not isinstance(rendered[head], Mapping):
            kept[head] = rendered[head]
        else:
            inner = only_fields(rendered[head], rest)
            kept[head] = {**kept.get(head, {}), **inner}
    return kept


# ---------------------------------------------------------------------------------------------
# Demo data (Polish-looking)

FIRST_NAMES = (
    ("Anna", "f"),
    ("Katarzyna", "f"),
    ("Małgorzata", "f"),
    ("Agnieszka", "f"),
    ("Magdalena", "f"),
    ("Joanna", "f"),
    ("Aleksandra", "f"),
    ("Ewa", "f"),
    ("Piotr", "m"),
    ("Krzysztof", "m"),
    ("Andrzej", "m"),
    ("Tomasz", "m"),
    ("Paweł", "m"),
    ("Michał", "m"),
    ("Łukasz", "m"),
    ("Grzegorz", "m"),
)
LAST_NAMES = (
    ("Nowak", "Nowak"),
    ("Kowalski", "Kowalska"),
    ("Wiśniewski", "Wiśniewska"),
    ("Wójcik", "Wójcik"),
    ("Kamiński", "Kamińska"),
    ("Lewandowski", "Lewandowska"),
    ("Zieliński", "Zielińska"),
    ("Dąbrowski", "Dąbrowska"),
    ("Woźniak", "Woźniak"),
    ("Kozłowski", "Kozłowska"),
    ("Mazur", "Mazur"),
)
CITIES = (
    ("Warszawa", "00-950", "PL-MZ"),
    ("Kraków", "30-001", "PL-MA"),
    ("Łódź", "90-001", "PL-LD"),
    ("Wrocław", "50-001", "PL-DS"),
    ("Poznań", "60-001", "PL-WP"),
    ("Gdańsk", "80-001", "PL-PM"),
    ("Lublin", "20-001", "PL-LU"),
    ("Białystok", "15-001", "PL-PD"),
    ("Rzeszów", "35-001", "PL-PK"),
)
STREETS = (
    "ul. Długa",
    "ul. Mickiewicza",
    "ul. Kościuszki",
    "ul. Polna",
    "ul. Leśna",
    "ul. Ogrodowa",
    "al. Jana Pawła II",
)
COMPANIES = ("", "", "", "P.H.U. Gwiazda", "Handel Nowak sp. z o.o.", "Studio Zielony Kąt s.c.")
PRODUCT_NAMES = (
    "Kubek ceramiczny",
    "Koszulka bawełniana",
    "Plecak miejski",
    "Lampka biurkowa",
    "Notes A5 w kropki",
    "Torba lniana",
    "Świeca sojowa",
    "Ręcznik kąpielowy",
    "Poduszka dekoracyjna",
    "Herbata liściasta",
    "Miód wielokwiatowy",
    "Kawa ziarnista",
    "Szalik wełniany",
    "Rękawiczki zimowe",
    "Deska do krojenia",
)
PRODUCT_VARIANTS = (
    "300 ml",
    "czarny",
    "zielona",
    "rozmiar M",
    "rozmiar L",
    "500 g",
    "1 kg",
    "biały",
    "dębowa",
)
ORDER_STATUS_WEIGHTS = (
    ("processing", 40),
    ("completed", 35),
    ("on-hold", 10),
    ("pending", 8),
    ("cancelled", 5),
    ("failed", 2),
)


@dataclass(frozen=True, slots=True)
class _Line:
    product_id: int
    variation_id: int
    name: str
    sku: str | None  # None: the line has no product (get_order_item_data answers null)
    quantity: int
    unit_price: Decimal  # gross when prices include tax


@dataclass(frozen=True, slots=True)
class _Route:
    collection: str  # "orders" | "products" | "variations"
    kind: str  # "list" | "item" | "batch"
    object_id: int | None = None


_ROUTES = (
    (re.compile(r"^wc/v3/(orders|products)$", re.IGNORECASE), "list"),
    (re.compile(r"^wc/v3/(orders|products)/batch$", re.IGNORECASE), "batch"),
    (re.compile(r"^wc/v3/(orders|products)/(\d+)$", re.IGNORECASE), "item"),
    (re.compile(r"^wc/v3/products/(\d+)/variations$", re.IGNORECASE), "variations"),
    (re.compile(r"^wc/v3/products/(\d+)/variations/batch$", re.IGNORECASE), "variations_batch"),
    (re.compile(r"^wc/v3/(webhooks)$", re.IGNORECASE), "list"),
    (re.compile(r"^wc/v3/(webhooks)/(\d+)$", re.IGNORECASE), "item"),
)
_METHODS = {
    "list": {"GET": "list", "POST": "create"},
    "item": {
        "GET": "read",
        "POST": "update",
        "PUT": "update",
        "PATCH": "update",
        "DELETE": "delete",
    },
    "batch": {"POST": "batch", "PUT": "batch", "PATCH": "batch"},
    "variations": {"GET": "list"},
    "variations_batch": {"POST": "batch", "PUT": "batch", "PATCH": "batch"},
}
_LOGIN_REQUIRED = {
    "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    "read": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "update": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
    "delete": (
        "woocommerce_rest_cannot_delete",
        "Sorry, you are not allowed to delete this resource.",
    ),
    "batch": (
        "woocommerce_rest_cannot_batch",
        "Sorry, you are not allowed to batch manipulate this resource.",
    ),
}
_POST_TYPE = {"orders": "shop_order", "products": "product", "variations": "product_variation"}


def _auth_error(message: str) -> WooError:
    return WooError("woocommerce_rest_authentication_error", message, 401)


# ---------------------------------------------------------------------------------------------
# The emulator


class WooCommerceSandbox(Sandbox):
    """WooCommerce REST API v3 (orders, products) with WooCommerce's and WordPress's quirks."""

    platform = "woocommerce"

    def __init__(
        self,
        consumer_key: str = "ck_sandbox",
        consumer_secret: str = "cs_sandbox",
        *,
        site_timezone: str = "Europe/Warsaw",
        tls: bool = False,
        permissions: str = "read_write",
        currency: str = "PLN",
        vat_rate: Decimal | str = "23",
        prices_include_tax: bool = True,
        stock_write_bumps_modified: bool = False,
        wc_version: str = "9.4.0",
        faults: Faults | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(faults=faults)
        #: The WooCommerce version emulated (7.x, 8.x, 9.x in the field). What changes with it
        #: here: `global_unique_id` exists from 9.2 (woocommerce/woocommerce#50442).
        self.wc_version = wc_version
        self.has_global_unique_id = _version(wc_version) >= (9, 2)
        if permissions not in ("read", "write", "read_write"):
            raise ValueError("permissions must be read, write or read_write")
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.site_timezone = ZoneInfo(site_timezone)
        self.tls = tls
        self.permissions = permissions
        self.currency = currency
        self.vat_rate = Decimal(str(vat_rate)) / 100
        self.prices_include_tax = prices_include_tax
        self.stock_write_bumps_modified = stock_write_bumps_modified
        self.site_url = "https://sklep.example.com"
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.auth_time: Callable[[], float] = time.time
        self._seed = seed
        self._demo_args: tuple[int, int] | None = None
        #: Webhooks and their deliveries (workers.shops.woocommerce.hooks).
        self.hooks = WooWebhooks(self.site_url, wc_version)
        self._clear_data()

    def _clear_data(self) -> None:
        self.orders: dict[int, Json] = {}
        self.products: dict[int, Json] = {}
        self.variations: dict[int, Json] = {}
        self.rng = random.Random(self._seed)
        self._next_post_id = 100  # orders, products and variations share WordPress post IDs
        self._next_item_id = 1
        self._next_meta_id = 1
        self._nonces: dict[int, str] = {}
        # SKU -> ids that held it: a hint that spares a scan of the whole catalogue per lookup
        # (entries are re-checked against the record, so stale ones do no harm).
        self._sku_ids: dict[str, set[int]] = {}
        self._gtin_ids: dict[str, set[int]] = {}  # the same kind of hint for GTINs
        self._slug_ids: dict[str, set[int]] = {}  # and for product slugs

    # -- clock and ids -------------------------------------------------------------------------

    def _now(self) -> datetime:
        moment = self.now()
        if moment.tzinfo is None:
            raise ValueError("WooCommerceSandbox.now must return an aware datetime")
        return moment.astimezone(UTC).replace(microsecond=0)

    def _dates(self, prefix: str, moment: datetime | None) -> Json:
        """`{prefix}` in site-local time and `{prefix}_gmt` in UTC, both naive ISO strings."""
        if moment is None:
            return {prefix: None, f"{prefix}_gmt": None}
        moment = moment.astimezone(UTC).replace(microsecond=0)
        return {
            prefix: naive_iso(moment.astimezone(self.site_timezone)),
            f"{prefix}_gmt": naive_iso(moment),
        }

    def _post_id(self) -> int:
        self._next_post_id += 1
        return self._next_post_id

    def _item_id(self) -> int:
        self._next_item_id += 1
        return self._next_item_id

    def _meta(self, key: str, value: Any) -> Json:
        self._next_meta_id += 1
        return {"id": self._next_meta_id, "key": key, "value": value}

    # -- Sandbox hooks -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "orders": len(self.orders),
            "products": len(self.products),
            "variations": len(self.variations),
            "site_timezone": str(self.site_timezone),
            "tls": self.tls,
        }

    def reset_data(self) -> None:
        with self.lock:
            self._clear_data()
            if self._demo_args is not None:
                self.seed_demo(orders=self._demo_args[0], products=self._demo_args[1])

    def api_url(self, handle: SandboxHandle) -> str:
        return f"{handle.base_url}{REST_PREFIX}{NAMESPACE}/"

    # -- HTTP entry point ----------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if not request.path.startswith(REST_PREFIX):
            page = (
                b"<html><body><h1>Nie znaleziono strony</h1></body></html>"  # WordPress theme 404
            )
            return SandboxResponse(404, page, [("Content-Type", "text/html; charset=UTF-8")])
        route = unquote(request.path[len(REST_PREFIX) :]).strip("/")
        method = "GET" if request.method == "HEAD" else request.method
        try:
            form = self._form_params(request)
            logged_in = False
            if route.startswith(("wc/", "wc-")):
                logged_in = self._authenticate(request, form)
                self._check_key_permissions(logged_in, method)
            target, action = self._match(route, method)
            body = {**form, **self._json_body(request)}  # JSON wins over form fields, as in WP
            params = {**request.query, **body}
            args = self._validated(target, action, params, body)  # WordPress checks params first,
            if not logged_in:  # ... then the route's permission callback
                code, message = _LOGIN_REQUIRED[action]
                raise WooError(code, message, 401)
            return self._dispatch(request, target, action, args, body)
        except WooError as error:
            return error.response()

    @staticmethod
    def _validated(target: _Route, action: str, params: Json, body: Json) -> Json:
        if target.collection == "webhooks":  # checked by workers.shops.woocommerce.hooks
            return {}
        if action == "list":
            spec = {"orders": ORDER_LIST_ARGS, "products": PRODUCT_LIST_ARGS}.get(
                target.collection, VARIATION_LIST_ARGS
            )
            return validate_params(params, spec)
        if action in ("create", "update"):
            validate_params(
                body, ORDER_BODY_ARGS if target.collection == "orders" else PRODUCT_BODY_ARGS
            )
        if action == "delete":
            return validate_params(params, {"force": Arg("boolean")})
        if action == "read":
            return validate_params(params, {"context": Arg("string", enum=("view", "edit"))})
        return {}

    def _match(self, route: str, method: str) -> tuple[_Route, str]:
        for pattern, kind in _ROUTES:
            found = pattern.match(route)
            if not found:
                continue
            action = _METHODS[kind].get(method)
            if action is None:
                break
            if kind in ("variations", "variations_batch"):
                return _Route("variations", action, int(found.group(1))), action
            object_id = int(found.group(2)) if kind == "item" else None
            return _Route(found.group(1).lower(), kind, object_id), action
        raise WooError(
            "rest_no_route", "No route was found matching the URL and request method.", 404
        )

    def _dispatch(
        self, request: SandboxRequest, target: _Route, action: str, args: Json, body: Json
    ) -> SandboxResponse:
        api = self._api_base(request)
        if target.collection == "webhooks":
            status, answer = self.hooks.rest(action, target.object_id, body)
            return json_response(status, answer)
        if target.collection == "variations" and action == "batch":
            return json_response(200, self._variations_batch(target.object_id or 0, body, api))
        if target.collection == "variations":
            return self._list_variations(request, target.object_id or 0, args, api)
        if action == "list":
            return self._list(request, target.collection, args, api)
        if action == "batch":
            return json_response(200, self._batch(target.collection, body, api))
        if action == "create":
            created = self._create(target.collection, body)
            location = f"{api}{target.collection}/{created['id']}"
            return json_response(
                201, self._render(target.collection, created, api), [("Location", location)]
            )
        object_id = target.object_id or 0
        if action == "read":
            record = self._get(target.collection, object_id, 404)
            rendered = self._render(target.collection, record, api, args.get("context", "view"))
            return json_response(200, only_fields(rendered, request.query.get("_fields")))
        if action == "update":
            return json_response(
                200,
                self._render(
                    target.collection, self._update(target.collection, object_id, body), api
                ),
            )
        deleted = self._delete(target.collection, object_id, bool(args.get("force", False)))
        return json_response(200, self._render(target.collection, deleted, api))

    def _api_base(self, request: SandboxRequest) -> str:
        base = request.base_url
        if self.tls:
            base = "https://" + base.split("://", 1)[1]
        return f"{base}{REST_PREFIX}{NAMESPACE}/"

    # -- request bodies ------------------------------------------------------------------------

    @staticmethod
    def _content_type(request: SandboxRequest) -> str:
        return request.header("content-type").split(";")[0].strip().lower()

    def _form_params(self, request: SandboxRequest) -> dict[str, str]:
        # WordPress treats a missing content type as a form body.
        if request.method in ("POST", "PUT", "PATCH") and self._content_type(request) in (
            "",
            "application/x-www-form-urlencoded",
        ):
            return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        return {}

    def _json_body(self, request: SandboxRequest) -> Json:
        if self._content_type(request) != "application/json" or not request.body.strip():
            return {}
        try:
            parsed = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            raise WooError(
                "rest_invalid_json",
                "Invalid JSON body passed.",
                400,
                json_error_code=4,
                json_error_message="Syntax error",
            ) from None
        return parsed if isinstance(parsed, dict) else {}

    # -- authentication ------------------------------------------------------------------------

    def _authenticate(self, request: SandboxRequest, form: Mapping[str, str]) -> bool:
        """True for a valid key, False for no credentials; raises the WooCommerce 401 otherwise."""
        if self.tls and self._basic_auth(request):
            return True
        return self._oauth_auth(request, form)

    def _basic_auth(self, request: SandboxRequest) -> bool:
        query = request.query
        key, secret = query.get("consumer_key", ""), query.get("consumer_secret", "")
        if not (key and secret):
            key, secret = self._basic_credentials(request.header("authorization"))
        if not (key and secret) or not hmac.compare_digest(key, self.consumer_key):
            return False  # an unknown key is not an error here: OAuth gets its turn
        if not hmac.compare_digest(secret, self.consumer_secret):
            raise _auth_error("Consumer secret is invalid.")
        return True

    @staticmethod
    def _basic_credentials(header: str) -> tuple[str, str]:
        if not header.lower().startswith("basic "):
            return "", ""
        try:
            decoded = b64decode(header[6:].strip()).decode("utf-8")
        except ValueError:
            return "", ""
        key, _, secret = decoded.partition(":")
        return key, secret

    def _oauth_auth(self, request: SandboxRequest, form: Mapping[str, str]) -> bool:
        params: dict[str, str] = {**request.query, **form}
        params.update(self._oauth_header_params(request.header("authorization").strip()))
        required = (
            "oauth_consumer_key",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
        )
        missing = [name for name in required if params.get(name, "") in ("", "0")]
        if len(missing) == len(required):
            return False
        if missing:
            noun = "parameter" if len(missing) == 1 else "parameters"
            raise WooError(
                "woocommerce_rest_authentication_missing_parameter",
                f"Missing OAuth {noun} {', '.join(missing)}",
                401,
            )
        if not hmac.compare_digest(params["oauth_consumer_key"], self.consumer_key):
            raise _auth_error("Consumer key is invalid.")
        self._check_signature(request, params)
        self._check_timestamp_and_nonce(params["oauth_timestamp"], params["oauth_nonce"])
        return True

    @staticmethod
    def _oauth_header_params(header: str) -> dict[str, str]:
        if not header.startswith("OAuth "):
            return {}
        found = re.finditer(r'(oauth_[a-z_-]*)=(?:"([^"]*)"|([^,]*))', header)
        return {
            match.group(1): unquote_plus(match.group(2) or match.group(3) or "") for match in found
        }

    def _check_signature(self, request: SandboxRequest, params: Mapping[str, str]) -> None:
        scheme = "https" if self.tls else "http"
        url = f"{scheme}://{request.base_url.split('://', 1)[1]}{request.path}"
        provided = unquote(params["oauth_signature"].replace(" ", "+"))
        method_name = params["oauth_signature_method"]
        if method_name not in oauth.SIGNATURE_METHODS:
            raise _auth_error("Invalid signature - signature method is invalid.")
        try:
            expected = oauth.signature(
                request.method, url, params, self.consumer_secret, method_name
            )
        except ValueError:  # PHP would nest a[b] keys; a flat signature can never match then
            expected = ""
        if not hmac.compare_digest(expected, provided):
            raise _auth_error("Invalid signature - provided signature does not match.")

    def _check_timestamp_and_nonce(self, raw_timestamp: str, nonce: str) -> None:
        now = int(self.auth_time())
        try:
            timestamp = int(float(raw_timestamp))
        except ValueError:
            raise _auth_error("Invalid timestamp.") from None
        if not now - OAUTH_WINDOW <= timestamp <= now + OAUTH_WINDOW:
            raise _auth_error("Invalid timestamp.")
        if nonce in self._nonces.values():
            raise _auth_error("Invalid nonce - nonce has already been used.")
        # WooCommerce keys nonces by timestamp: a 2nd nonce in the same second replaces the 1st.
        self._nonces[timestamp] = nonce
        self._nonces = {
            stamp: value for stamp, value in self._nonces.items() if stamp >= now - OAUTH_WINDOW
        }

    def _check_key_permissions(self, logged_in: bool, method: str) -> None:
        if not logged_in:
            return
        if method == "GET" and self.permissions == "write":
            raise _auth_error("The API key provided does not have read permissions.")
        if method in WRITE_METHODS and self.permissions == "read":
            raise _auth_error("The API key provided does not have write permissions.")

    # -- listing -------------------------------------------------------------------------------

    def _store(self, collection: str) -> dict[int, Json]:
        return {"orders": self.orders, "products": self.products, "variations": self.variations}[
            collection
        ]

    def _list(
        self, request: SandboxRequest, collection: str, args: Json, api: str
    ) -> SandboxResponse:
        filters = self._with_bounds(args)
        records = [
            record
            for record in self._store(collection).values()
            if self._matches(collection, record, filters)
        ]
        if collection == "products" and args.get("sku"):
            # ProductsV2::prepare_objects_query: with `sku` the query covers post types product
            # *and* product_variation, so a variation's SKU is found here too.
            records += [v for v in self.variations.values() if self._variation_matches(v, filters)]
        return self._page(request, collection, records, args, api, f"{api}{collection}")

    def _variation_matches(self, record: Json, args: Json) -> bool:
        status = args.get("status", "any")
        if (status == "any" and record["status"] == "trash") or (
                status != "any" and record["status"] != status):
            return False
        skus = args["sku"].split(",")
        return self._common_filters(record, args) and record["sku"] in (
            [*skus, args["sku"]] if len(skus) > 1 else skus)

    def _list_variations(
        self, request: SandboxRequest, product_id: int, args: Json, api: str
    ) -> SandboxResponse:
        filters = self._with_bounds(args)
        records = [
            v
            for v in self.variations.values()
            if v["parent_id"] == product_id and self._common_filters(v, filters)
        ]
        return self._page(
            request, "variations", records, args, api, f"{api}products/{product_id}/variations"
        )

    def _page(
        self,
        request: SandboxRequest,
        collection: str,
        records: list[Json],
        args: Json,
        api: str,
        link_base: str,
    ) -> SandboxResponse:
        records = self._sorted(collection, records, args)
        page, per_page = args.get("page", 1), args.get("per_page", 10)
        start = args["offset"] if "offset" in args else (page - 1) * per_page
        total = len(records)
        pages = math.ceil(total / per_page)
        context, fields = args.get("context", "view"), request.query.get("_fields")
        body = [
            only_fields(self._render(collection, record, api, context), fields)
            for record in records[max(start, 0) : max(start, 0) + per_page]
        ]
        headers = [("X-WP-Total", str(total)), ("X-WP-TotalPages", str(pages))]
        query = request.query
        if page > 1:
            headers.append(
                ("Link", f'<{self._page_link(link_base, query, min(page - 1, pages))}>; rel="prev"')
            )
        if pages > page:
            headers.append(("Link", f'<{self._page_link(link_base, query, page + 1)}>; rel="next"'))
        return json_response(200, body, headers)

    @staticmethod
    def _page_link(base: str, query: Mapping[str, str], page: int) -> str:
        # add_query_arg keeps every request parameter (oauth_* included) and replaces `page`.
        return f"{base}?{urlencode({**query, 'page': str(page)})}"

    def _matches(self, collection: str, record: Json, args: Json) -> bool:
        if not self._common_filters(record, args):
            return False
        if collection == "orders":
            statuses = args.get("status", ["any"])
            if "any" in statuses:
                return record["status"] not in ("trash", "checkout-draft")
            return record["status"] in statuses
        status = args.get("status", "any")
        if (status == "any" and record["status"] == "trash") or (
            status != "any" and record["status"] != status
        ):
            return False
        if args.get("sku"):
            skus = args["sku"].split(",")
            if len(skus) > 1:
                skus.append(args["sku"])  # WooCommerce also matches the whole string
            if record["sku"] not in skus:
                return False
        if (
            "search" in args
            and args["search"].lower() not in (record["name"] + " " + record["sku"]).lower()
        ):
            return False
        for name in ("slug", "type", "stock_status"):
            if name in args and record[name] != args[name]:
                return False
        return "featured" not in args or record["featured"] == args["featured"]

    def _common_filters(self, record: Json, args: Json) -> bool:
        if "include" in args and args["include"] and record["id"] not in args["include"]:
            return False
        if "exclude" in args and record["id"] in args["exclude"]:
            return False
        if "parent" in args and args["parent"] and record.get("parent_id", 0) not in args["parent"]:
            return False
        if "parent_exclude" in args and record.get("parent_id", 0) in args["parent_exclude"]:
            return False
        gmt = "_gmt" if args.get("dates_are_gmt") else ""
        bounds = (
            ("after", f"date_created{gmt}", 1),
            ("before", f"date_created{gmt}", -1),
            ("modified_after", f"date_modified{gmt}", 1),
            ("modified_before", f"date_modified{gmt}", -1),
        )
        for param, column, direction in bounds:
            if param not in args:
                continue
            bound, value = args[param], record[column]  # bound prepared by _with_bounds
            # WP_Date_Query compares exclusively: after → column > bound, before → column < bound.
            if value is None or (value <= bound if direction > 0 else value >= bound):
                return False
        return True

    def _with_bounds(self, args: Json) -> Json:
        """Date parameters turned into the naive strings the columns are compared with, once."""
        dates = ("after", "before", "modified_after", "modified_before")
        return {**args, **{name: self._date_bound(args[name]) for name in dates if name in args}}

    def _date_bound(self, raw: str) -> str:
        """Bound as WP_Date_Query builds it: naive kept as is, an offset converted to site-local."""
        parsed = datetime.fromisoformat(raw.replace("t", "T"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(self.site_timezone)
        return naive_iso(parsed.replace(microsecond=0))

    def _sorted(self, collection: str, records: list[Json], args: Json) -> list[Json]:
        orderby = args.get("orderby", "date")
        descending = args.get("order", "desc") == "desc"
        include = args.get("include") or []

        def key(record: Json) -> tuple[Any, int]:
            if orderby == "date":
                primary: Any = record["date_created"]
            elif orderby == "modified":
                primary = record["date_modified"]
            elif orderby == "id":
                primary = 0
            elif orderby == "include":
                primary = include.index(record["id"]) if record["id"] in include else len(include)
            elif orderby == "title":
                primary = self._order_title(record) if collection == "orders" else record["name"]
            elif orderby == "slug":
                primary = self._order_slug(record) if collection == "orders" else record["slug"]
            elif orderby == "price":
                primary = decimal_or_none(record["price"]) or Decimal(0)
            elif orderby == "popularity":
                primary = record.get("total_sales", 0)
            elif orderby == "rating":
                primary = Decimal(record.get("average_rating", "0"))
            else:
                primary = record.get("menu_order", 0)
            return primary, record[
                "id"
            ]  # ID breaks ties, in the same direction (WooCommerce appends it)

        # orderby=include is WP_Query's `post__in` order: the order given, whatever `order` says.
        return sorted(records, key=key, reverse=descending and orderby != "include")

    @staticmethod
    def _order_title(record: Json) -> str:
        created = datetime.fromisoformat(record["date_created"])
        return "Order &ndash; " + created.strftime("%B %d, %Y @ %I:%M %p")

    @staticmethod
    def _order_slug(record: Json) -> str:
        created = datetime.fromisoformat(record["date_created"])
        return "order-" + created.strftime("%b-%d-%Y-%I%M-%p").lower()

    # -- single objects ------------------------------------------------------------------------

    def _get(self, collection: str, object_id: int, status: int) -> Json:
        record = self._store(collection).get(object_id)
        if record is None:
            raise WooError(
                f"woocommerce_rest_{_POST_TYPE[collection]}_invalid_id", "Invalid ID.", status
            )
        return record

    def _render(self, collection: str, record: Json, api: str, context: str = "edit") -> Json:
        if collection == "products" and record.get("type") == "variation":
            collection = "variations"  # a variation found by `sku` renders as itself
        """The API's view of a stored record. Writes answer in `edit` (WC_REST_CRUD_Controller::
        create_item/update_item set context=edit); reads default to `view`, where
        WC_REST_Products_V2_Controller::get_product_data renders the description as
        `wpautop(do_shortcode(…))` and the short description through `woocommerce_short_description`
        (wpautop among its default callbacks)."""
        shown = self._render_stored(collection, record, api)
        if collection != "orders" and context == "view":
            for name in ("description", "short_description"):
                if name in shown:
                    shown[name] = wpautop(shown[name])
        if collection != "orders" and not self.has_global_unique_id:
            shown.pop("global_unique_id", None)
        return shown

    def _render_stored(self, collection: str, record: Json, api: str) -> Json:
        if collection == "variations":
            base = f"{api}products/{record['parent_id']}/variations"
            links = {
                "self": [{"href": f"{base}/{record['id']}"}],
                "collection": [{"href": base}],
                "up": [{"href": f"{api}products/{record['parent_id']}"}],
            }
        else:
            links = {
                "self": [{"href": f"{api}{collection}/{record['id']}"}],
                "collection": [{"href": f"{api}{collection}"}],
            }
            if collection == "orders" and record["customer_id"]:
                links["customer"] = [{"href": f"{api}customers/{record['customer_id']}"}]
        return {**record, "_links": links}

    def _create(self, collection: str, data: Json) -> Json:
        if data.get("id"):
            raise WooError(
                f"woocommerce_rest_{_POST_TYPE[collection]}_exists",
                f"Cannot create existing {_POST_TYPE[collection]}.",
                400,
            )
        if collection == "orders":
            return self._create_order_from_api(data)
        return self._create_product(data)

    def _update(self, collection: str, object_id: int, data: Json) -> Json:
        record = self._get(collection, object_id, 400)
        if collection == "orders":
            self._apply_order_update(record, data, bump=True, strict=True)
            self._order_hooks(record, "updated")
        else:
            self._apply_product_update(record, data)
        return record

    def _delete(self, collection: str, object_id: int, force: bool) -> Json:
        record = self._get(collection, object_id, 404)
        post_type = _POST_TYPE[collection]
        if force:
            del self._store(collection)[object_id]
            return record
        if record["status"] == "trash":
            raise WooError(
                "woocommerce_rest_already_trashed",
                f"The {post_type} has already been deleted.",
                410,
            )
        record["status"] = "trash"
        record.update(self._dates("date_modified", self._now()))
        return record

    def _batch(self, collection: str, body: Json, api: str) -> Json | list[Any]:
        items = {name: value for name, value in body.items() if value}
        total = sum(len(items.get(name) or ()) for name in ("create", "update", "delete"))
        if total > BATCH_LIMIT:
            raise WooError(
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {BATCH_LIMIT} items for this request.",
                413,
            )
        result: Json = {}
        for item in _as_list(items.get("create")):
            try:
                result.setdefault("create", []).append(
                    self._render(collection, self._create(collection, _as_dict(item)), api)
                )
            except WooError as error:
                result.setdefault("create", []).append({"id": 0, "error": error.item()})
        for item in _as_list(items.get("update")):
            item = _as_dict(item)
            try:
                updated = self._batch_update(collection, item)
                result.setdefault("update", []).append(self._render(collection, updated, api))
            except WooError as error:
                result.setdefault("update", []).append(
                    {"id": item.get("id"), "error": error.item()}
                )
        for raw_id in _as_list(items.get("delete")):
            object_id = intval(raw_id)
            if object_id == 0:
                continue
            try:
                result.setdefault("delete", []).append(
                    self._render(collection, self._delete(collection, object_id, True), api)
                )
            except WooError as error:
                result.setdefault("delete", []).append({"id": object_id, "error": error.item()})
        return result or []  # PHP encodes an empty array as []

    def _batch_update(self, collection: str, item: Json) -> Json:
        if collection == "products" and intval(item.get("id") or 0) in self.variations:
            # ProductsV3::prepare_object_for_database refuses a variation id.
            raise WooError(
                "woocommerce_rest_invalid_product_id",
                "To manipulate product variations you should use the "
                "/products/&lt;product_id&gt;/variations/&lt;id&gt; endpoint.",
                404,
            )
        record = self._get(collection, intval(item.get("id") or 0), 400)
        if collection == "orders":
            self._apply_order_update(record, item, bump=True, strict=True)
        else:
            self._apply_product_update(record, item)
        return record

    def _variations_batch(self, parent_id: int, body: Json, api: str) -> Json | list[Any]:
        """`products/{id}/variations/batch`, updates only (what the connector uses): the same
        100-item limit and per-item errors; fields stored as for products (description through
        kses — **unverified** for variations, where WooCommerce may use wp_kses_post)."""
        updates = _as_list(body.get("update"))
        if len(updates) + len(_as_list(body.get("create"))) + len(_as_list(body.get("delete"))) \
                > BATCH_LIMIT:
            raise WooError("woocommerce_rest_request_entity_too_large",
                           f"Unable to accept more than {BATCH_LIMIT} items for this request.", 413)
        answers: list[Json] = []
        for raw in updates:
            item = _as_dict(raw)
            variation = self.variations.get(intval(item.get("id") or 0))
            try:
                if variation is None or variation["parent_id"] != parent_id:
                    raise WooError("woocommerce_rest_product_variation_invalid_id",
                                   "Invalid ID.", 400)
                self._apply_variation_update(variation, item)
                answers.append(self._render("variations", variation, api))
            except WooError as error:
                answers.append({"id": item.get("id"), "error": error.item()})
        return {"update": answers} if answers else []

    def _apply_variation_update(self, record: Json, data: Mapping[str, Any]) -> None:
        draft = copy.deepcopy(record)
        if "sku" in data:
            draft["sku"] = self._checked_sku(wc_clean(str(data["sku"] or "")), record["id"])
        if data.get("description") is not None:
            draft["description"] = filter_post_kses(str(data["description"]))
        for name in ("status", "weight", "backorders", "stock_status"):
            if name in data:
                draft[name] = data[name]
        if "global_unique_id" in data and self.has_global_unique_id:
            draft["global_unique_id"] = self._checked_gtin(
                str(data["global_unique_id"] or ""), record["id"], False)
        for name in ("regular_price", "sale_price"):
            if name in data:
                draft[name] = "" if data[name] is None else str(data[name]).strip()
        if "manage_stock" in data:
            draft["manage_stock"] = php_bool(data["manage_stock"])
        if "stock_quantity" in data and data["stock_quantity"] is not None:
            draft["stock_quantity"] = intval(data["stock_quantity"])
        self._derive_product_props(draft)
        touched = {name for name in data if name != "id"}
        if self.stock_write_bumps_modified or not touched <= STOCK_FIELDS:
            draft.update(self._dates("date_modified", self._now()))
        record.clear()
        record.update(draft)
        self._index_sku(record)

    # -- products ------------------------------------------------------------------------------

    def _product_template(self, created: datetime) -> Json:
        return {
            "id": 0,
            "name": "Product",
            "slug": "",
            "permalink": "",
            **self._dates("date_created", created),
            **self._dates("date_modified", created),
            "type": "simple",
            "status": "publish",
            "featured": False,
            "catalog_visibility": "visible",
            "description": "",
            "short_description": "",
            "sku": "",
            "global_unique_id": "",
            "price": "",
            "regular_price": "",
            "sale_price": "",
            "date_on_sale_from": None,
            "date_on_sale_from_gmt": None,
            "date_on_sale_to": None,
            "date_on_sale_to_gmt": None,
            "price_html": "",
            "on_sale": False,
            "purchasable": False,
            "total_sales": 0,
            "virtual": False,
            "downloadable": False,
            "downloads": [],
            "download_limit": -1,
            "download_expiry": -1,
            "external_url": "",
            "button_text": "",
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": False,
            "stock_quantity": None,
            "stock_status": "instock",
            "backorders": "no",
            "backorders_allowed": False,
            "backordered": False,
            "low_stock_amount": None,
            "sold_individually": False,
            "weight": "",
            "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_required": True,
            "shipping_taxable": True,
            "shipping_class": "",
            "shipping_class_id": 0,
            "reviews_allowed": True,
            "average_rating": "0.00",
            "rating_count": 0,
            "related_ids": [],
            "upsell_ids": [],
            "cross_sell_ids": [],
            "parent_id": 0,
            "purchase_note": "",
            "categories": [],
            "tags": [],
            "brands": [],
            "images": [],
            "attributes": [],
            "default_attributes": [],
            "variations": [],
            "grouped_products": [],
            "menu_order": 0,
            "has_options": False,
            "post_password": "",
            "meta_data": [],
        }

    _PRODUCT_KSES_FIELDS = ("name", "description", "short_description")
    _PRODUCT_PLAIN_FIELDS = (
        "type",
        "status",
        "featured",
        "catalog_visibility",
        "virtual",
        "downloadable",
        "external_url",
        "button_text",
        "tax_status",
        "tax_class",
        "backorders",
        "sold_individually",
        "weight",
        "shipping_class",
        "reviews_allowed",
        "parent_id",
        "purchase_note",
        "categories",
        "tags",
        "images",
        "attributes",
        "default_attributes",
        "menu_order",
        "upsell_ids",
        "cross_sell_ids",
        "low_stock_amount",
    )

    def _create_product(
        self, data: Mapping[str, Any], created: datetime | None = None, *, trusted: bool = False
    ) -> Json:
        """`trusted` (demo seeding) skips SKU and slug scans: its values are unique already."""
        record = self._product_template(created or self._now())
        self._apply_product_fields(record, data, trusted=trusted)  # raises before an ID is used
        record["id"] = self._post_id()
        if not record["slug"]:
            record["slug"] = self._unique_slug(slugify(record["name"]), record["id"])
        record["permalink"] = f"{self.site_url}/produkt/{record['slug']}/"
        self.products[record["id"]] = record
        self._index_sku(record)
        return record

    def _apply_product_update(
        self, record: Json, data: Mapping[str, Any], *, bump: bool | None = None
    ) -> None:
        draft = copy.deepcopy(record)
        self._apply_product_fields(draft, data)
        touched = {name for name in data if name != "id" and not name.startswith("oauth_")}
        if bump is None:
            bump = self.stock_write_bumps_modified or not touched <= STOCK_FIELDS
        if bump:
            draft.update(self._dates("date_modified", self._now()))
        record.clear()
        record.update(draft)

    def _apply_product_fields(
        self, record: Json, data: Mapping[str, Any], *, trusted: bool = False
    ) -> None:
        if "sku" in data:
            # WC_REST_Products_Controller::prepare_object_for_database: set_sku(wc_clean(…)).
            sku = wc_clean(str(data["sku"] or ""))
            record["sku"] = sku if trusted else self._checked_sku(sku, record["id"])
            self._index_sku(record)
        for name in self._PRODUCT_PLAIN_FIELDS:
            if name in data:
                record[name] = data[name]
        for name in self._PRODUCT_KSES_FIELDS:
            # The same function: set_name / set_description / set_short_description(
            # wp_filter_post_kses(…)) — what is stored, and what `context=edit` answers.
            if name in data and data[name] is not None:
                record[name] = filter_post_kses(str(data[name]))
        if "global_unique_id" in data:
            # Since 9.2 in REST (set_global_unique_id(wc_clean(…))); an older shop has no such
            # field and WordPress drops the unknown property.
            record["global_unique_id"] = (
                self._checked_gtin(str(data["global_unique_id"] or ""), record["id"], trusted)
                if self.has_global_unique_id else "")
            self._index_sku(record)
        if data.get("slug"):
            slug = slugify(str(data["slug"]))
            record["slug"] = slug if trusted else self._unique_slug(slug, record["id"])
            self._index_sku(record)
        if "dimensions" in data and isinstance(data["dimensions"], Mapping):
            record["dimensions"] = {
                **record["dimensions"],
                **{k: str(v) for k, v in data["dimensions"].items()},
            }
        if "meta_data" in data:
            record["meta_data"] = self._merged_meta(record["meta_data"], data["meta_data"])
        for name in ("regular_price", "sale_price"):
            if name in data:
                record[name] = "" if data[name] is None else str(data[name]).strip()
        if "manage_stock" in data:
            record["manage_stock"] = php_bool(data["manage_stock"])
        if "stock_quantity" in data and data["stock_quantity"] is not None:
            record["stock_quantity"] = intval(data["stock_quantity"])
        if "stock_status" in data:
            record["stock_status"] = data["stock_status"]
        self._derive_product_props(record)

    def _derive_product_props(self, record: Json) -> None:
        regular, sale = (
            decimal_or_none(record["regular_price"]),
            decimal_or_none(record["sale_price"]),
        )
        if sale is not None and (regular is None or sale >= regular):
            record["sale_price"], sale = (
                "",
                None,
            )  # WooCommerce drops a sale price not below the regular one
        record["on_sale"] = sale is not None
        record["price"] = record["sale_price"] if sale is not None else record["regular_price"]
        record["purchasable"] = record["price"] != ""
        record["price_html"] = self._price_html(record["price"])
        if record["manage_stock"]:
            quantity = record["stock_quantity"] if record["stock_quantity"] is not None else 0
            record["stock_quantity"] = quantity
            if quantity > 0:
                record["stock_status"] = "instock"
            else:
                record["stock_status"] = (
                    "outofstock" if record["backorders"] == "no" else "onbackorder"
                )
        else:
            record["stock_quantity"] = None  # WooCommerce clears the quantity of unmanaged stock
        record["backorders_allowed"] = record["backorders"] in ("yes", "notify")
        record["backordered"] = False

    def _price_html(self, price: str) -> str:
        amount = decimal_or_none(price)
        if amount is None:
            return ""
        shown = money(amount).replace(".", ",")
        return (
            f'<span class="woocommerce-Price-amount amount"><bdi>{shown}&nbsp;'
            f'<span class="woocommerce-Price-currencySymbol">&#122;&#322;</span></bdi></span>'
        )

    def _checked_sku(self, sku: str, own_id: int) -> str:
        if not sku:
            return sku
        owner = self._sku_owner(sku, own_id)
        if owner:
            raise WooError(
                "product_invalid_sku",
                "Invalid or duplicated SKU.",
                400,
                resource_id=owner,
                unique_sku=self._unique_sku(sku, own_id),
            )
        return sku

    def _checked_gtin(self, raw: str, own_id: int, trusted: bool) -> str:
        """WC_Product::set_global_unique_id after wc_clean: characters other than digits,
        hyphens and X/x are stripped; an X anywhere but last is 400 ..._format; a GTIN another
        product holds is 400 product_invalid_global_unique_id with its `resource_id`."""
        gtin = re.sub(r"[^0-9Xx-]", "", wc_clean(raw))
        if not gtin or trusted:
            return gtin
        if not re.fullmatch(r"[0-9-]*[0-9Xx]?", gtin):
            raise WooError("product_invalid_global_unique_id_format",
                           "Invalid GTIN, UPC, EAN, or ISBN. The letter X is only valid as the "
                           "final ISBN-10 check digit.", 400)
        for holder_id in sorted(self._gtin_ids.get(gtin, ())):
            record = self.products.get(holder_id) or self.variations.get(holder_id)
            if (record is not None and holder_id != own_id
                    and record.get("global_unique_id") == gtin and record["status"] != "trash"):
                raise WooError("product_invalid_global_unique_id",
                               "Invalid or duplicated GTIN, UPC, EAN or ISBN.", 400,
                               resource_id=holder_id)
        return gtin

    def _index_sku(self, record: Json) -> None:
        """Index the record's SKU and GTIN (hints: entries are re-checked when read)."""
        if record.get("sku"):
            self._sku_ids.setdefault(record["sku"], set()).add(int(record["id"]))
        if record.get("global_unique_id"):
            self._gtin_ids.setdefault(record["global_unique_id"], set()).add(int(record["id"]))
        if record.get("slug"):
            self._slug_ids.setdefault(record["slug"], set()).add(int(record["id"]))

    def _slug_holders(self, slug: str) -> list[Json]:
        found = (self.products.get(record_id) for record_id in self._slug_ids.get(slug, ()))
        return [record for record in found if record is not None]

    def _sku_holders(self, sku: str) -> list[Json]:
        """Non-trashed products and variations holding `sku` now, in id order."""
        found = []
        for record_id in sorted(self._sku_ids.get(sku, ())):
            record = self.products.get(record_id) or self.variations.get(record_id)
            if record is not None and record["sku"] == sku and record["status"] != "trash":
                found.append(record)
        return found

    def _sku_owner(self, sku: str, own_id: int) -> int:
        """ID of another non-trashed product or variation holding `sku`, else 0."""
        for record in self._sku_holders(sku):
            if record["id"] != own_id:
                return int(record["id"])
        return 0

    def _unique_sku(self, sku: str, own_id: int) -> str:
        index = 1
        while self._sku_owner(f"{sku}-{index}", own_id):
            index += 1
        return f"{sku}-{index}"

    def _unique_slug(self, slug: str, own_id: int) -> str:
        def taken(candidate: str) -> bool:
            # Products are few per slug stem, so look the candidates up instead of collecting
            # every slug of the catalogue per write (50,000-product exports were quadratic).
            return any(record["id"] != own_id and record["slug"] == candidate
                       for record in self._slug_holders(candidate))

        candidate, index = slug, 2
        while taken(candidate):
            candidate, index = f"{slug}-{index}", index + 1
        return candidate

    def _merged_meta(self, current: list[Json], changes: Any) -> list[Json]:
        merged = [dict(entry) for entry in current]
        for change in _as_list(changes):
            change = _as_dict(change)
            existing = next((entry for entry in merged if entry["key"] == change.get("key")), None)
            if existing is not None:
                existing["value"] = change.get("value")
            elif "key" in change:
                merged.append(self._meta(str(change["key"]), change.get("value")))
        return merged

    def _create_variation(self, parent: Json, data: Mapping[str, Any]) -> Json:
        record = {
            "id": 0,
            "parent_id": parent["id"],
            **self._dates("date_created", self._now()),
            **self._dates("date_modified", self._now()),
            "description": "",
            "permalink": parent["permalink"],
            "sku": "",
            "global_unique_id": "",
            "price": "",
            "regular_price": "",
            "sale_price": "",
            "date_on_sale_from": None,
            "date_on_sale_from_gmt": None,
            "date_on_sale_to": None,
            "date_on_sale_to_gmt": None,
            "on_sale": False,
            "status": "publish",
            "purchasable": False,
            "virtual": False,
            "downloadable": False,
            "downloads": [],
            "download_limit": -1,
            "download_expiry": -1,
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": False,
            "stock_quantity": None,
            "stock_status": "instock",
            "backorders": "no",
            "backorders_allowed": False,
            "backordered": False,
            "low_stock_amount": None,
            "weight": "",
            "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_class": "",
            "shipping_class_id": 0,
            "image": None,
            "attributes": [],
            "menu_order": 0,
            "meta_data": [],
            "name": parent["name"],
            "type": "variation",
            "price_html": "",
        }
        if "sku" in data:
            record["sku"] = self._checked_sku(str(data["sku"] or ""), 0)
        for name in (
            "description",
            "status",
            "attributes",
            "weight",
            "backorders",
            "stock_status",
            "menu_order",
        ):
            if name in data:
                record[name] = data[name]
        for name in ("regular_price", "sale_price"):
            if name in data:
                record[name] = str(data[name])
        if "manage_stock" in data:
            record["manage_stock"] = php_bool(data["manage_stock"])
        if "stock_quantity" in data and data["stock_quantity"] is not None:
            record["stock_quantity"] = intval(data["stock_quantity"])
        self._derive_product_props(record)
        record["id"] = self._post_id()
        self.variations[record["id"]] = record
        self._index_sku(record)
        parent["variations"].append(record["id"])
        return record

    # -- orders --------------------------------------------------------------------------------

    def _product_by_sku(self, sku: str) -> Json | None:
        holders = self._sku_holders(sku)
        return holders[0] if holders else None

    def _line_for(self, product: Json, quantity: int, unit_price: Decimal | None) -> _Line:
        is_variation = product.get("type") == "variation"
        price = (
            unit_price
            if unit_price is not None
            else (decimal_or_none(product["price"]) or Decimal(0))
        )
        name = product["name"]
        if is_variation and product["attributes"]:
            name += " - " + ", ".join(
                str(attribute.get("option", "")) for attribute in product["attributes"]
            )
        return _Line(
            product_id=product["parent_id"] if is_variation else product["id"],
            variation_id=product["id"] if is_variation else 0,
            name=name,
            sku=product["sku"],
            quantity=quantity,
            unit_price=price,
        )

    def _create_order_from_api(self, data: Json) -> Json:
        lines = [self._api_line(_as_dict(item)) for item in _as_list(data.get("line_items"))]
        shipping_lines = _as_list(data.get("shipping_lines"))
        shipping = _as_dict(shipping_lines[0]) if shipping_lines else {}
        fields: Json = {
            name: data[name]
            for name in (
                "customer_id",
                "customer_note",
                "payment_method",
                "payment_method_title",
                "transaction_id",
                "currency",
                "parent_id",
            )
            if name in data
        }
        order = self._build_order(
            lines,
            created=self._now(),
            status="pending",
            billing=_as_dict(data.get("billing")),
            shipping=_as_dict(data.get("shipping")),
            shipping_cost=decimal_or_none(shipping.get("total")) if shipping else None,
            shipping_method=str(shipping.get("method_title", "")),
            created_via="rest-api",
            fields=fields,
        )
        if "meta_data" in data:
            order["meta_data"] = self._merged_meta([], data["meta_data"])
        self.orders[order["id"]] = order
        status_change: Json = {name: data[name] for name in ("status", "set_paid") if name in data}
        if status_change:
            self._apply_order_update(order, status_change, bump=False, strict=True)
        return order

    def _api_line(self, item: Json) -> _Line:
        """A posted line as WC_REST_Orders_V2_Controller::prepare_line_items /
        get_product_id builds it: the product is looked up by `sku`, else `product_id`, else
        `variation_id`; none of the three is 400 `woocommerce_rest_required_product_reference`.
        A reference that finds nothing is no error: `wc_get_product()` is false, the line keeps
        only what was posted (name, quantity, total) with product_id 0 and no SKU."""
        product: Json | None = None
        if item.get("sku"):
            product = self._product_by_sku(str(item["sku"]))
        elif intval(item.get("product_id") or 0) and not intval(item.get("variation_id") or 0):
            product = self.products.get(intval(item["product_id"]))
        elif intval(item.get("variation_id") or 0):
            product = self.variations.get(intval(item["variation_id"]))
        else:
            raise WooError("woocommerce_rest_required_product_reference",
                           "Product ID or SKU is required.", 400)
        quantity = intval(item.get("quantity", 1)) or 1
        unit = decimal_or_none(item.get("price"))
        total = decimal_or_none(item.get("total"))
        if total is not None:
            unit = total / quantity
        if product is None:
            return _Line(0, 0, str(item.get("name") or ""), None, quantity, unit or Decimal(0))
        line = self._line_for(product, quantity, unit)
        if item.get("name"):  # maybe_set_item_props sets a posted name over the product's
            line = _Line(line.product_id, line.variation_id, str(item["name"]), line.sku,
                         line.quantity, line.unit_price)
        return line

    def _split_tax(self, amount: Decimal) -> tuple[Decimal, Decimal]:
        """(net, tax) of a price under the shop's tax setting."""
        if self.vat_rate == 0:
            return amount.quantize(CENT, ROUND_HALF_UP), Decimal("0.00")
        if self.prices_include_tax:
            net = (amount / (1 + self.vat_rate)).quantize(CENT, ROUND_HALF_UP)
            return net, amount.quantize(CENT, ROUND_HALF_UP) - net
        net = amount.quantize(CENT, ROUND_HALF_UP)
        return net, (net * self.vat_rate).quantize(CENT, ROUND_HALF_UP)

    def _build_order(
        self,
        lines: Sequence[_Line],
        *,
        created: datetime,
        status: str,
        billing: Mapping[str, Any],
        shipping: Mapping[str, Any],
        shipping_cost: Decimal | None,
        shipping_method: str,
        created_via: str,
        fields: Mapping[str, Any],
        modified: datetime | None = None,
    ) -> Json:
        order_id = self._post_id()
        rate_id, taxed = 1, self.vat_rate != 0
        line_items, net_sum, tax_sum = [], Decimal(0), Decimal(0)
        for line in lines:
            net, tax = self._split_tax(line.unit_price * line.quantity)
            net_sum, tax_sum = net_sum + net, tax_sum + tax
            line_items.append(
                {
                    "id": self._item_id(),
                    "name": line.name,
                    "product_id": line.product_id,
                    "variation_id": line.variation_id,
                    "quantity": line.quantity,
                    "tax_class": "",
                    "subtotal": money(net),
                    "subtotal_tax": money(tax),
                    "total": money(net),
                    "total_tax": money(tax),
                    "taxes": [{"id": rate_id, "total": trimmed(tax), "subtotal": trimmed(tax)}]
                    if taxed
                    else [],
                    "meta_data": [],
                    "sku": line.sku,
                    "price": float(net / line.quantity) if line.quantity else 0.0,
                    "image": {"id": "", "src": ""},
                    "parent_name": None,
                }
            )
        shipping_lines, ship_net, ship_tax = [], Decimal("0.00"), Decimal("0.00")
        if shipping_cost is not None:
            ship_net, ship_tax = self._split_tax(shipping_cost)
            shipping_lines.append(
                {
                    "id": self._item_id(),
                    "method_title": shipping_method or "Kurier",
                    "method_id": "flat_rate",
                    "instance_id": "1",
                    "total": money(ship_net),
                    "total_tax": money(ship_tax),
                    "taxes": [{"id": rate_id, "total": trimmed(ship_tax), "subtotal": ""}]
                    if taxed
                    else [],
                    "meta_data": [],
                }
            )
        tax_lines = (
            [
                {
                    "id": self._item_id(),
                    "rate_code": "PL-VAT-1",
                    "rate_id": rate_id,
                    "label": "VAT",
                    "compound": False,
                    "tax_total": money(tax_sum),
                    "shipping_tax_total": money(ship_tax),
                    "rate_percent": float(self.vat_rate * 100),
                    "meta_data": [],
                }
            ]
            if taxed
            else []
        )
        total = net_sum + tax_sum + ship_net + ship_tax
        order: Json = {
            "id": order_id,
            "parent_id": 0,
            "status": "pending",
            "currency": self.currency,
            "version": self.wc_version,
            "prices_include_tax": self.prices_include_tax,
            **self._dates("date_created", created),
            **self._dates("date_modified", modified or created),
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": money(ship_net),
            "shipping_tax": money(ship_tax),
            "cart_tax": money(tax_sum),
            "total": money(total),
            "total_tax": money(tax_sum + ship_tax),
            "customer_id": 0,
            "order_key": "wc_order_"
            + "".join(
                self.rng.choices(
                    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=13
                )
            ),
            "billing": {
                "first_name": "",
                "last_name": "",
                "company": "",
                "address_1": "",
                "address_2": "",
                "city": "",
                "state": "",
                "postcode": "",
                "country": "",
                "email": "",
                "phone": "",
                **billing,
            },
            "shipping": {
                "first_name": "",
                "last_name": "",
                "company": "",
                "address_1": "",
                "address_2": "",
                "city": "",
                "state": "",
                "postcode": "",
                "country": "",
                "phone": "",
                **shipping,
            },
            "payment_method": "bacs",
            "payment_method_title": "Przelew bankowy",
            "transaction_id": "",
            "customer_ip_address": "",
            "customer_user_agent": "",
            "created_via": created_via,
            "customer_note": "",
            **self._dates("date_completed", None),
            **self._dates("date_paid", None),
            "cart_hash": "",
            "number": str(order_id),
            "meta_data": [],
            "line_items": line_items,
            "tax_lines": tax_lines,
            "shipping_lines": shipping_lines,
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
            "payment_url": f"{self.site_url}/zamowienie/order-pay/{order_id}/",
            "is_editable": True,
            "needs_payment": total > 0,
            "needs_processing": True,
            "currency_symbol": "zł",
        }
        order.update(fields)
        order["status"] = status
        self._derive_order_flags(order)
        return order

    @staticmethod
    def _derive_order_flags(order: Json) -> None:
        order["is_editable"] = order["status"] in ("pending", "on-hold", "auto-draft")
        order["needs_payment"] = (
            order["status"] in ("pending", "failed") and Decimal(order["total"]) > 0
        )

    def _apply_order_update(
        self, order: Json, data: Mapping[str, Any], *, bump: bool, strict: bool
    ) -> None:
        """PUT /orders/{id} semantics; `strict` ignores unknown keys instead of storing them."""
        now = self._now()
        for name, value in data.items():
            if name in ("billing", "shipping"):
                order[name] = {**order[name], **_as_dict(value)}
            elif name == "meta_data":
                order["meta_data"] = self._merged_meta(order["meta_data"], value)
            elif name in (
                "customer_note",
                "transaction_id",
                "payment_method",
                "payment_method_title",
                "currency",
                "customer_id",
                "parent_id",
            ):
                order[name] = value
            elif name in ("status", "set_paid", "id", "line_items", "shipping_lines"):
                continue  # status below; item edits are not emulated
            elif not strict:
                order[name] = value
        if php_bool(data.get("set_paid", False)) and order["date_paid"] is None:
            order.update(self._dates("date_paid", now))
            if "status" not in data and order["status"] in (
                "pending",
                "on-hold",
                "failed",
                "cancelled",
            ):
                self._set_order_status(order, "processing", now)
        if "status" in data:
            self._set_order_status(order, str(data["status"]), now)
        if bump:
            order.update(self._dates("date_modified", now))
        self._derive_order_flags(order)

    def _set_order_status(self, order: Json, status: str, now: datetime) -> None:
        if status in PAID_STATUSES and order["date_paid"] is None:
            order.update(self._dates("date_paid", now))
        if status == "completed" and order["status"] != "completed":
            order.update(self._dates("date_completed", now))
        order["status"] = status

    # -- seeding API (in-process) -------------------------------------------------------------

    def add_product(
        self,
        *,
        created: datetime | None = None,
        variations: Iterable[Mapping[str, Any]] = (),
        **fields: Any,
    ) -> Json:
        """Create a product as POST /products would (duplicate SKU → WooError); returns a copy."""
        with self.lock:
            fields.setdefault("regular_price", "19.99")
            record = self._create_product(fields, created)
            for variation in variations:
                self._create_variation(record, variation)
            if record["variations"]:
                record["type"] = "variable"
            return copy.deepcopy(record)

    def add_order(
        self,
        sku_lines: Sequence[tuple[str, int | Decimal, Decimal | str | float | int]],
        *,
        email: str | None = None,
        status: str = "processing",
        created: datetime | None = None,
        modified: datetime | None = None,
        shipping_cost: Decimal | str | None = "14.99",
        shipping_method: str = "Kurier InPost",
        fees: Sequence[tuple[str, Decimal | str]] = (),
        **fields: Any,
    ) -> Json:
        """A realistic order: Polish customer, VAT split, shipping line, consistent totals.

        `sku_lines` are (sku, quantity, unit price incl. tax when prices include tax). A SKU the
        shop does not carry is a product deleted since the order was placed: its line has
        product_id 0 and `sku` null and keeps its stored name (the SKU), as
        WC_REST_Orders_V2_Controller::get_order_item_data answers it — add the product first for
        an ordinary line. `fees` are (name, gross) fee lines (a COD fee; negative for a discount
        given as a fee), taxed like everything else and inside `total`. `fields` override
        top-level keys (billing/shipping are merged). Paid statuses get `date_paid`, completed also
        `date_completed`.
        """
        with self.lock:
            lines = []
            for sku, quantity, price in sku_lines:
                unit = Decimal(str(price))
                product = self._product_by_sku(sku)
                if product is None:
                    lines.append(_Line(0, 0, sku, None, int(quantity), unit))
                else:
                    lines.append(self._line_for(product, int(quantity), unit))
            order = self._insert_order(
                lines,
                email=email,
                status=status,
                created=created or self._now(),
                modified=modified,
                shipping_cost=decimal_or_none(shipping_cost),
                shipping_method=shipping_method,
                fields=fields,
            )
            for name, gross in fees:
                self._add_fee(order, name, Decimal(str(gross)))
            return copy.deepcopy(order)

    def _add_fee(self, order: Json, name: str, gross: Decimal) -> None:
        """A fee line as get_order_item_data renders WC_Order_Item_Fee (no sku, own taxes)."""
        net, tax = self._split_tax(gross)
        taxed = self.vat_rate != 0
        order["fee_lines"].append({
            "id": self._item_id(), "name": name, "tax_class": "", "tax_status": "taxable",
            "amount": money(net), "total": money(net), "total_tax": money(tax),
            "taxes": [{"id": 1, "total": trimmed(tax), "subtotal": ""}] if taxed else [],
            "meta_data": []})
        for key, amount in (("total", net + tax), ("total_tax", tax), ("cart_tax", tax)):
            order[key] = money(Decimal(order[key]) + amount)
        for tax_line in order["tax_lines"]:
            tax_line["tax_total"] = money(Decimal(tax_line["tax_total"]) + tax)
        self._derive_order_flags(order)

    def _insert_order(
        self,
        lines: Sequence[_Line],
        *,
        email: str | None,
        status: str,
        created: datetime,
        modified: datetime | None,
        shipping_cost: Decimal | None,
        shipping_method: str,
        fields: dict[str, Any],
    ) -> Json:
        created = created.astimezone(UTC).replace(microsecond=0)
        billing, shipping = self._demo_addresses(email)
        billing.update(_as_dict(fields.pop("billing", {})))
        shipping.update(_as_dict(fields.pop("shipping", {})))
        order = self._build_order(
            lines,
            created=created,
            status=status,
            billing=billing,
            shipping=shipping,
            shipping_cost=shipping_cost,
            shipping_method=shipping_method,
            created_via="checkout",
            fields=fields,
            modified=modified,
        )
        if status in PAID_STATUSES:
            order.update(self._dates("date_paid", created))
        if status == "completed":
            order.update(self._dates("date_completed", modified or created))
        self._derive_order_flags(order)
        self.orders[order["id"]] = order
        self._order_hooks(order, "created", "updated")  # a new order fires both topics
        return order

    def _order_hooks(self, order: Json, *events: str) -> None:
        if not self.hooks.webhooks:
            return
        payload = self._render("orders", order, f"{self.site_url}{REST_PREFIX}{NAMESPACE}/")
        for event in events:
            self.hooks.fire("order", event, copy.deepcopy(payload))

    def update_order(self, order_id: int, *, bump_modified: bool = True, **fields: Any) -> Json:
        """Change an order as an admin would; `bump_modified=False` imitates item edits (#34798)."""
        with self.lock:
            order = self._get("orders", order_id, 404)
            self._apply_order_update(order, fields, bump=bump_modified, strict=False)
            self._order_hooks(order, "updated")
            return copy.deepcopy(order)

    def update_product(
        self, product_id: int, *, bump_modified: bool | None = None, **fields: Any
    ) -> Json:
        """PUT /products/{id} semantics (stock-only writes keep the date unless told otherwise)."""
        with self.lock:
            product = self._get("products", product_id, 404)
            self._apply_product_update(product, fields, bump=bump_modified)
            return copy.deepcopy(product)

    def set_stock(self, product_id: int, quantity: int) -> Json:
        """Stock moved by a sale: quantity set, `date_modified` untouched (woocommerce#40060)."""
        with self.lock:
            record = self.products.get(product_id) or self._get("variations", product_id, 404)
            record["manage_stock"] = True
            record["stock_quantity"] = int(quantity)
            self._derive_product_props(record)
            return copy.deepcopy(record)

    def seed_demo(self, orders: int = 20, products: int = 30) -> None:
        """Reproducible Polish-looking catalogue and orders over the last 30 days."""
        with self.lock:
            self._demo_args = (orders, products)
            now = self._now()
            catalogue = []
            names = len(PRODUCT_NAMES) * len(PRODUCT_VARIANTS)
            for index in range(products):
                variant = PRODUCT_VARIANTS[(index // len(PRODUCT_NAMES)) % len(PRODUCT_VARIANTS)]
                name = f"{PRODUCT_NAMES[index % len(PRODUCT_NAMES)]} {variant}"
                repeat = index // names  # names repeat after every combination: "-2", "-3" slugs
                slug = slugify(name) + (f"-{repeat + 1}" if repeat else "")
                created = now - timedelta(
                    days=self.rng.randint(31, 400), minutes=self.rng.randint(0, 1440)
                )
                price = Decimal(self.rng.randint(999, 49900)) / 100
                catalogue.append(
                    self._create_product(
                        {
                            "name": name,
                            "slug": slug,
                            "sku": f"PL-{index + 1:05d}",
                            "regular_price": money(price),
                            "manage_stock": True,
                            "stock_quantity": self.rng.randint(0, 120),
                            "weight": str(Decimal(self.rng.randint(1, 50)) / 10),
                            "description": f"<p>{name}: produkt polskiej marki.</p>",
                            "short_description": f"<p>{name}</p>",
                        },
                        created,
                        trusted=True,
                    )
                )
            statuses = [status for status, _ in ORDER_STATUS_WEIGHTS]
            weights = [weight for _, weight in ORDER_STATUS_WEIGHTS]
            for _ in range(orders):
                picked = (
                    self.rng.sample(catalogue, k=min(len(catalogue), self.rng.randint(1, 4)))
                    if catalogue
                    else []
                )
                lines = [
                    self._line_for(product, self.rng.randint(1, 3), None) for product in picked
                ]
                created = now - timedelta(minutes=self.rng.randint(60, 30 * 24 * 60))
                modified = min(now, created + timedelta(minutes=self.rng.randint(0, 3 * 24 * 60)))
                self._insert_order(
                    lines,
                    email=None,
                    status=self.rng.choices(statuses, weights)[0],
                    created=created,
                    modified=modified,
                    shipping_cost=Decimal("14.99"),
                    shipping_method="Kurier InPost",
                    fields={},
                )

    def _demo_addresses(self, email: str | None) -> tuple[Json, Json]:
        first, gender = self.rng.choice(FIRST_NAMES)
        last = self.rng.choice(LAST_NAMES)[0 if gender == "m" else 1]
        city, postcode, state = self.rng.choice(CITIES)
        address = f"{self.rng.choice(STREETS)} {self.rng.randint(1, 120)}/{self.rng.randint(1, 40)}"
        digits = (
            self.rng.randint(500, 799),
            self.rng.randint(100, 999),
            self.rng.randint(100, 999),
        )
        phone = "+48 " + " ".join(map(str, digits))
        if email is None:
            email = f"{slugify(first)}.{slugify(last)}{self.rng.randint(1, 999)}@example.com"
        common = {
            "first_name": first,
            "last_name": last,
            "company": self.rng.choice(COMPANIES),
            "address_1": address,
            "address_2": "",
            "city": city,
            "state": state,
            "postcode": postcode,
            "country": "PL",
            "phone": phone,
        }
        return {**common, "email": email}, dict(common)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return list(value.values())  # PHP foreach over an object-like array
    return list(value) if isinstance(value, list | tuple) else [value]


def _as_dict(value: Any) -> Json:
    return dict(value) if isinstance(value, Mapping) else {}


# ---------------------------------------------------------------------------------------------
# Command-line entry (wired as `iluo-sync sandbox woocommerce`)


def serve_forever(
    host: str,
    port: int,
    *,
    seed_orders: int,
    seed_products: int,
    consumer_key: str,
    consumer_secret: str,
    error_rate: float,
    rate_limit_rate: float,
    latency_ms: int,
) -> None:
    """Seed, serve, print one line with the URL and keys, block until Ctrl-C or SIGTERM."""
    faults = Faults(error_rate=error_rate, rate_limit_rate=rate_limit_rate, latency_ms=latency_ms)
    sandbox = WooCommerceSandbox(consumer_key, consumer_secret, faults=faults)
    sandbox.seed_demo(orders=seed_orders, products=seed_products)
    serve_until_stopped(
        sandbox, host, port,
        lambda handle: (
            f"WooCommerce sandbox at {sandbox.api_url(handle)} consumer_key={consumer_key} "
            f"consumer_secret={consumer_secret} (control: {handle.base_url}/__sandbox/state)"
        ),
    )
