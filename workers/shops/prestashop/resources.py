"""The Webservice resources the PrestaShop sandbox serves: fields, required and read-only ones.

Field lists follow PrestaShop/docs `webservice/resources/*.md` (8.x; `stock_availables.md` and
`order_histories.md` from the same tree) and the ObjectModel definitions they were generated
from, trimmed to what a shop integration touches. Order matters: it is the output order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
READ = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class Resource:
    name: str  # the URL segment and the list wrapper: "products"
    element: str  # one object: "product"
    fields: tuple[str, ...]  # without `id`
    required: frozenset[str] = frozenset()
    i18n: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()  # "not writable": refused in a body (code 93)
    methods: frozenset[str] = READ  # what the sandbox implements for it
    numeric: frozenset[str] = field(default_factory=frozenset)  # compared as numbers

    @property
    def all_fields(self) -> tuple[str, ...]:
        return ("id", *self.fields)


def _ids(*names: str) -> frozenset[str]:
    return frozenset({"id", *names})


PRODUCTS = Resource(
    "products", "product",
    fields=(
        "id_manufacturer", "id_supplier", "id_category_default", "new", "cache_default_attribute",
        "id_default_image", "id_default_combination", "id_tax_rules_group", "position_in_category",
        "manufacturer_name", "quantity", "type", "id_shop_default", "reference",
        "supplier_reference", "location", "width", "height", "depth", "weight",
        "quantity_discount", "ean13", "isbn", "upc", "mpn", "cache_is_pack",
        "cache_has_attachments", "is_virtual", "state", "additional_delivery_times",
        "delivery_in_stock", "delivery_out_stock", "on_sale", "online_only", "ecotax",
        "minimal_quantity", "low_stock_threshold", "low_stock_alert", "price", "wholesale_price",
        "unity", "unit_price_ratio", "additional_shipping_cost", "customizable", "text_fields",
        "uploadable_files", "active", "redirect_type", "id_type_redirected",
        "available_for_order", "available_date", "show_condition", "condition", "show_price",
        "indexed", "visibility", "advanced_stock_management", "date_add", "date_upd",
        "pack_stock_type", "meta_description", "meta_keywords", "meta_title", "link_rewrite",
        "name", "description", "description_short", "available_now", "available_later",
    ),
    required=frozenset({"price"}),
    i18n=frozenset({"delivery_in_stock", "delivery_out_stock", "meta_description",
                    "meta_keywords", "meta_title", "link_rewrite", "name", "description",
                    "description_short", "available_now", "available_later"}),
    read_only=frozenset({"manufacturer_name", "quantity"}),
    methods=ALL_METHODS - {"DELETE"},
    numeric=_ids("id_manufacturer", "id_supplier", "id_category_default",
                 "id_tax_rules_group", "price", "weight", "quantity", "active", "state"),
)

STOCK_AVAILABLES = Resource(
    "stock_availables", "stock_available",
    fields=("id_product", "id_product_attribute", "id_shop", "id_shop_group", "quantity",
            "depends_on_stock", "out_of_stock", "location"),
    required=frozenset({"id_product", "id_product_attribute", "quantity", "depends_on_stock",
                        "out_of_stock"}),
    # webservice_account config: 'forbidden_method' => ['POST', 'DELETE']
    methods=frozenset({"GET", "HEAD", "PUT", "PATCH"}),
    numeric=_ids("id_product", "id_product_attribute", "id_shop", "id_shop_group", "quantity"),
)

ORDERS = Resource(
    "orders", "order",
    fields=(
        "id_address_delivery", "id_address_invoice", "id_cart", "id_currency", "id_lang",
        "id_customer", "id_carrier", "current_state", "module", "invoice_number", "invoice_date",
        "delivery_number", "delivery_date", "valid", "date_add", "date_upd", "shipping_number",
        "note", "id_shop_group", "id_shop", "secure_key", "payment", "recyclable", "gift",
        "gift_message", "mobile_theme", "total_discounts", "total_discounts_tax_incl",
        "total_discounts_tax_excl", "total_paid", "total_paid_tax_incl", "total_paid_tax_excl",
        "total_paid_real", "total_products", "total_products_wt", "total_shipping",
        "total_shipping_tax_incl", "total_shipping_tax_excl", "carrier_tax_rate",
        "total_wrapping", "total_wrapping_tax_incl", "total_wrapping_tax_excl", "round_mode",
        "round_type", "conversion_rate", "reference",
    ),
    numeric=_ids("id_customer", "id_carrier", "id_currency", "current_state", "valid"),
)

ORDER_HISTORIES = Resource(
    "order_histories", "order_history",
    fields=("id_employee", "id_order_state", "id_order", "date_add"),
    required=frozenset({"id_order_state", "id_order"}),
    methods=frozenset({"GET", "HEAD", "POST"}),
    numeric=_ids("id_employee", "id_order_state", "id_order"),
)

ORDER_STATES = Resource(
    "order_states", "order_state",
    fields=("unremovable", "delivery", "hidden", "send_email", "module_name", "invoice", "color",
            "logable", "shipped", "paid", "pdf_delivery", "pdf_invoice", "deleted", "name",
            "template"),
    i18n=frozenset({"name", "template"}),
    numeric=_ids("paid", "logable", "shipped", "deleted"),
)

CUSTOMERS = Resource(
    "customers", "customer",
    fields=("id_default_group", "id_lang", "newsletter_date_add", "ip_registration_newsletter",
            "last_passwd_gen", "secure_key", "deleted", "passwd", "lastname", "firstname",
            "email", "id_gender", "birthday", "newsletter", "optin", "website", "company",
            "siret", "ape", "outstanding_allow_amount", "show_public_prices", "id_risk",
            "max_payment_days", "active", "note", "is_guest", "id_shop", "id_shop_group",
            "date_add", "date_upd"),
    numeric=_ids("id_default_group", "id_lang", "deleted", "active", "is_guest"),
)

ADDRESSES = Resource(
    "addresses", "address",
    fields=("id_customer", "id_manufacturer", "id_supplier", "id_warehouse", "id_country",
            "id_state", "alias", "company", "lastname", "firstname", "vat_number", "address1",
            "address2", "postcode", "city", "other", "phone", "phone_mobile", "dni", "deleted",
            "date_add", "date_upd"),
    numeric=_ids("id_customer", "id_country", "id_state", "deleted"),
)

COUNTRIES = Resource(
    "countries", "country",
    fields=("id_zone", "id_currency", "call_prefix", "iso_code", "active", "contains_states",
            "need_identification_number", "need_zip_code", "zip_code_format",
            "display_tax_label", "name"),
    i18n=frozenset({"name"}),
    numeric=_ids("id_zone", "id_currency", "active"),
)

CURRENCIES = Resource(
    "currencies", "currency",
    fields=("name", "symbol", "iso_code", "numeric_iso_code", "precision", "conversion_rate",
            "deleted", "active"),
    i18n=frozenset({"name", "symbol"}),
    numeric=_ids("precision", "deleted", "active"),
)

CARRIERS = Resource(
    "carriers", "carrier",
    fields=("deleted", "is_module", "id_tax_rules_group", "id_reference", "name", "active",
            "is_free", "url", "shipping_handling", "shipping_external", "range_behavior",
            "shipping_method", "max_width", "max_height", "max_depth", "max_weight", "grade",
            "external_module_name", "need_range", "position", "delay"),
    i18n=frozenset({"delay"}),
    numeric=_ids("deleted", "active", "id_reference", "position"),
)

LANGUAGES = Resource(
    "languages", "language",
    fields=("name", "iso_code", "locale", "language_code", "active", "is_rtl",
            "date_format_lite", "date_format_full"),
    numeric=_ids("active", "is_rtl"),
)

CONFIGURATIONS = Resource(
    "configurations", "configuration",
    fields=("value", "name", "id_shop_group", "id_shop", "date_add", "date_upd"),
    numeric=_ids("id_shop_group", "id_shop"),
)

TAX_RULE_GROUPS = Resource(
    "tax_rule_groups", "tax_rule_group",
    fields=("name", "active", "deleted", "date_add", "date_upd"),
    numeric=_ids("active", "deleted"),
)

TAX_RULES = Resource(
    "tax_rules", "tax_rule",
    fields=("id_tax_rules_group", "id_state", "id_country", "zipcode_from", "zipcode_to",
            "id_tax", "behavior", "description"),
    numeric=_ids("id_tax_rules_group", "id_state", "id_country", "id_tax", "behavior"),
)

TAXES = Resource(
    "taxes", "tax",
    fields=("rate", "active", "deleted", "name"),
    i18n=frozenset({"name"}),
    numeric=_ids("rate", "active", "deleted"),
)

RESOURCES: dict[str, Resource] = {r.name: r for r in (
    PRODUCTS, STOCK_AVAILABLES, ORDERS, ORDER_HISTORIES, ORDER_STATES, CUSTOMERS, ADDRESSES,
    COUNTRIES, CURRENCIES, CARRIERS, LANGUAGES, CONFIGURATIONS, TAX_RULE_GROUPS, TAX_RULES,
    TAXES,
)}

#: The order states of a fresh install (src install-dev/data/xml/order_state.xml and
#: install-dev/langs/*/data/order_state.xml): id, English name, Polish name, paid, logable,
#: shipped.
ORDER_STATE_ROWS = (
    (1, "Awaiting check payment", "Oczekiwanie na płatność czekiem", 0, 0, 0),
    (2, "Payment accepted", "Płatność zaakceptowana", 1, 1, 0),
    (3, "Processing in progress", "Przygotowanie w toku", 1, 1, 0),
    (4, "Shipped", "Wysłane", 1, 1, 1),
    (5, "Delivered", "Dostarczone", 1, 1, 1),
    (6, "Canceled", "Anulowane", 0, 0, 0),
    (7, "Refunded", "Zwrot", 1, 0, 0),
    (8, "Payment error", "Błąd płatności", 0, 0, 0),
    (9, "On backorder (paid)", "Oczekiwanie na dostawę (opłacone)", 1, 1, 0),
    (10, "Awaiting bank wire payment", "Oczekiwanie na płatność przelewem", 0, 0, 0),
    (11, "Remote payment accepted", "Płatność zdalna zaakceptowana", 1, 1, 0),
    (12, "On backorder (not paid)", "Oczekiwanie na dostawę (nieopłacone)", 0, 0, 0),
    (13, "Awaiting Cash On Delivery validation", "Oczekiwanie na płatność przy odbiorze", 0, 0, 0),
)
