"""The PrestaShop sandbox over real HTTP: the Webservice quirks a connector must survive.

Every expectation names its source in the sandbox module docstring (WebserviceRequest.php,
SQLUtils.php, WebserviceOutputJSON.php, PrestaShop/docs, issues #10172 / #22760 / #11099).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from workers.shops.prestashop import xmlbody
from workers.shops.prestashop.sandbox import DEFAULT_KEY, PrestaShopSandbox
from workers.shops.sandbox import SandboxHandle

Clock = Any


class Api:
    """A bare Webservice client: the key as Basic user, JSON out unless told otherwise."""

    def __init__(self, handle: SandboxHandle, key: str | None = DEFAULT_KEY) -> None:
        self.base = handle.base_url + "/api/"
        headers = {}
        if key is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        self.http = httpx.Client(headers=headers, timeout=5)

    def get(self, path: str, json: bool = True, **params: str) -> httpx.Response:
        if json:
            params.setdefault("output_format", "JSON")
        return self.http.get(self.base + path, params=params)

    def send(self, method: str, path: str, body: bytes | str, **params: str) -> httpx.Response:
        params.setdefault("output_format", "JSON")
        return self.http.request(method, self.base + path, params=params, content=body,
                                 headers={"Content-Type": "text/xml"})


@pytest.fixture
def api(ps_server: SandboxHandle) -> Iterator[Api]:
    client = Api(ps_server)
    yield client
    client.http.close()


def errors(response: httpx.Response) -> list[tuple[int, str]]:
    return [(e["code"], e["message"]) for e in response.json()["errors"]]


# -- authentication ---------------------------------------------------------------------------


def test_no_key_is_401_with_a_basic_challenge(ps_server: SandboxHandle) -> None:
    anonymous = Api(ps_server, key=None)
    response = anonymous.get("products")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert errors(response)[0][0] == 16
    assert "PSWS-Version" not in response.headers


@pytest.mark.parametrize(("key", "code"), [("short", 18), ("X" * 32, 20), ("", 17)])
def test_bad_keys(ps_server: SandboxHandle, key: str, code: int) -> None:
    response = Api(ps_server, key=key).get("orders")
    assert response.status_code == 401 and errors(response)[0][0] == code


def test_key_as_ws_key_parameter_and_psws_version(ps_server: SandboxHandle) -> None:
    anonymous = Api(ps_server, key=None)
    response = anonymous.get("products", ws_key=DEFAULT_KEY)
    assert response.status_code == 200 and response.headers["PSWS-Version"] == "8.1.7"


def test_key_permissions(ps: PrestaShopSandbox, api: Api) -> None:
    ps.keys[DEFAULT_KEY] = {"products": {"GET"}}
    assert api.get("orders").status_code == 401 and errors(api.get("orders"))[0][0] == 26
    product = ps.add_product("A", "A")
    response = api.send("PUT", f"products/{product['id']}", b"<prestashop><product/></prestashop>")
    assert response.status_code == 405 and errors(response)[0][0] == 25


def test_unknown_resource_did_you_mean(api: Api) -> None:
    response = api.get("product")
    assert response.status_code == 400
    code, message = errors(response)[0]
    assert code == 27 and 'Did you mean: "products"' in message


def test_webservice_switched_off(ps: PrestaShopSandbox, api: Api) -> None:
    ps.enabled = False
    response = api.get("products")
    assert response.status_code == 503 and errors(response)[0][0] == 22


# -- output shapes ----------------------------------------------------------------------------


def test_list_shapes(ps: PrestaShopSandbox, api: Api) -> None:
    first = ps.add_product("A-1", "Kubek")
    ps.add_product("B-1", "Talerz")

    assert api.get("products").json() == {"products": [{"id": 1}, {"id": 2}]}  # ids only
    full = api.get("products", display="full").json()["products"]
    assert full[0]["id"] == 1 and full[0]["reference"] == "A-1" and full[0]["price"] == "8.130081"
    assert full[0]["name"] == [{"id": "1", "value": "Kubek"}, {"id": "2", "value": "Kubek"}]
    assert full[0]["associations"]["stock_availables"] == [{"id": "1",
                                                            "id_product_attribute": "0"}]
    picked = api.get("products", display="[id,reference]").json()["products"]
    assert picked == [{"id": 1, "reference": "A-1"}, {"id": 2, "reference": "B-1"}]
    assert api.get("products", **{"filter[reference]": "[NOPE]"}).json() == []  # not wrapped
    assert api.get(f"products/{first['id']}").json()["product"]["reference"] == "A-1"
    assert api.get("products/999").status_code == 404


def test_one_language_shop_sends_plain_strings(clock: Clock) -> None:
    sandbox = PrestaShopSandbox(DEFAULT_KEY, languages=1)
    sandbox.now = clock
    sandbox.add_product("A-1", "Kubek")
    with sandbox.serve() as handle:
        api = Api(handle)
        assert api.get("products", display="[id,name]").json()["products"][0]["name"] == "Kubek"


def test_xml_unless_json_is_asked_for(ps: PrestaShopSandbox, api: Api) -> None:
    ps.add_product("A-1", "Kubek")
    response = api.get("products", json=False, display="full")
    assert response.headers["Content-Type"].startswith("text/xml")
    assert b"<reference>A-1</reference>" in response.content
    bad = api.get("products", json=False, **{"filter[date_upd]": "[2024-01-01,2025-01-01]"})
    assert bad.status_code == 400 and b"<code>32</code>" in bad.content
    by_header = api.http.get(api.base + "products", headers={"Output-Format": "JSON"})
    assert by_header.json() == {"products": [{"id": 1}]}


# -- filters, sort, limit ---------------------------------------------------------------------


def test_date_filters_and_sorts_need_date_1(ps: PrestaShopSandbox, api: Api, clock: Clock) -> None:
    ps.add_product("A", "A")
    window = {"filter[date_upd]": "[2024-01-01 00:00:00,2024-12-31 23:59:59]"}
    refused = api.get("products", **window)
    assert refused.status_code == 400 and errors(refused)[0][0] == 32
    unsorted = api.get("products", sort="[date_upd_ASC]")
    assert unsorted.status_code == 400 and errors(unsorted)[0][0] == 38
    accepted = api.get("products", date="1", sort="[date_upd_ASC,id_ASC]", **window)
    assert accepted.json() == {"products": [{"id": 1}]}


def test_dates_are_shop_local(ps: PrestaShopSandbox, api: Api, clock: Clock) -> None:
    ps.add_product("A", "A")  # clock: 2024-06-01 10:00 UTC = 12:00 in Warsaw (CEST)
    row = api.get("products", display="[id,date_upd]").json()["products"][0]
    assert row["date_upd"] == "2024-06-01 12:00:00"
    hit = api.get("products", date="1", **{"filter[date_upd]": "[2024-06-01 12:00:00,2024-06-01 "
                                                                 "12:00:00]"})
    assert hit.json() == {"products": [{"id": 1}]}  # the interval is inclusive


def test_filter_operators(ps: PrestaShopSandbox, api: Api) -> None:
    for n, ref in enumerate(["abc-1", "ABC-2", "xyz-3", "10,20", "15-X"], 1):
        ps.add_product(ref, f"P{n}")

    def ids(**params: str) -> list[int]:
        data = api.get("products", **params).json()
        return [r["id"] for r in data["products"]] if data else []

    assert ids(**{"filter[reference]": "[abc-2|xyz-3]"}) == [2, 3]  # OR, case-insensitive
    assert ids(**{"filter[reference]": "[ABC-1]"}) == [1]  # literal, case-insensitive
    assert ids(**{"filter[reference]": "[abc]%"}) == [1, 2]  # begins with
    assert ids(**{"filter[reference]": "%[3]"}) == [3]
    assert ids(**{"filter[id]": "[2,3]"}) == [2, 3]  # interval
    assert ids(**{"filter[id]": ">[2]"}) == [3, 4, 5]
    assert ids(**{"filter[id]": "![1|4|5]"}) == [2, 3]
    assert ids(**{"filter[reference]": "[10,20]"}) == [4, 5]  # an interval, not the SKU
    assert ids(**{"filter[reference]": "[10,20|10,20]"}) == [4]
    assert ids(**{"filter[name]": "[P3]"}) == [3]  # multilingual filter
    unknown = api.get("products", **{"filter[colour]": "[red]"})
    assert unknown.status_code == 400 and "Did you mean" in errors(unknown)[0][1]


def test_limit_is_offset_count_without_cap_or_total(ps: PrestaShopSandbox, api: Api) -> None:
    for n in range(250):
        ps.add_product(f"R-{n}", f"R {n}")
    everything = api.get("products", limit="0,1000")
    assert len(everything.json()["products"]) == 250
    assert not any(h.lower().startswith("x-") and "total" in h.lower() for h in everything.headers)
    page = api.get("products", limit="240,20", sort="[id_DESC]").json()["products"]
    assert [r["id"] for r in page] == list(range(10, 0, -1))
    assert api.get("products", limit="5").json()["products"][-1] == {"id": 5}
    bad = api.get("products", limit="1,2,3")
    assert bad.status_code == 400 and errors(bad)[0][0] == 39


# -- writes -----------------------------------------------------------------------------------


def product_xml(**fields: Any) -> bytes:
    base: dict[str, Any] = {"reference": "NEW-1", "price": "10.000000", "id_tax_rules_group": "1",
                            "name": {"1": "Nowy", "2": "New"}, "active": "1"}
    base.update(fields)
    return xmlbody.document("product", {k: v for k, v in base.items() if v is not None})


def test_json_bodies_are_refused(api: Api) -> None:
    body = orjson.dumps({"product": {"reference": "X", "price": "1"}})
    response = api.send("POST", "products", body)
    assert response.status_code == 500
    code, message = errors(response)[0]
    assert code == 127 and message.startswith("XML error : String could not be parsed as XML")


def test_post_creates_with_stock_row_and_answers_the_object(ps: PrestaShopSandbox,
                                                            api: Api) -> None:
    response = api.send("POST", "products", product_xml())
    assert response.status_code == 201
    created = response.json()["product"]
    assert created["reference"] == "NEW-1" and created["link_rewrite"][0]["value"] == "nowy"
    assert ps.stock_row(created["id"])["quantity"] == "0"
    assert api.send("POST", "products", product_xml(id="5")).json()["errors"][0]["code"] == 91
    missing = api.send("POST", "products", product_xml(price=None))
    assert missing.status_code == 400 and errors(missing) == [(41, 'parameter "price" required')]
    nameless = api.send("POST", "products", product_xml(name={"1": "", "2": "x"}))
    assert nameless.status_code == 400 and errors(nameless)[0][0] == 84
    bad_ean = api.send("POST", "products", product_xml(ean13="59012341234570"))
    assert bad_ean.status_code == 400 and errors(bad_ean)[0][0] == 85


def test_reference_is_not_unique(ps: PrestaShopSandbox, api: Api) -> None:
    ps.add_product("DUP", "One")
    assert api.send("POST", "products", product_xml(reference="DUP")).status_code == 201
    assert len(ps.products_by_reference("DUP")) == 2


def test_put_is_not_partial(ps: PrestaShopSandbox, api: Api, clock: Clock) -> None:
    product = ps.add_product("A", "Kubek", ean13="5901234123457", description="Opis")
    clock.advance(minutes=5)
    partial = xmlbody.document("product", {"id": product["id"], "reference": "A",
                                           "price": "20.000000", "name": {"1": "Kubek XL"}})
    response = api.send("PUT", f"products/{product['id']}", partial)
    assert response.status_code == 200
    stored = ps.tables["products"][product["id"]]
    # Everything left out was emptied, multilingual fields too; a language left out of a
    # multilingual field that was sent keeps its value.
    # A float left out is NULL, which DECIMAL(20,6) keeps as 0.000000.
    assert (stored["ean13"], stored["weight"], stored["active"]) == ("", "0.000000", "")
    assert stored["description"] == {"1": "", "2": ""}
    assert stored["name"] == {"1": "Kubek XL", "2": "Kubek"}
    assert stored["date_upd"] == "2024-06-01 12:05:00"
    no_id = api.send("PUT", f"products/{product['id']}", product_xml())
    assert errors(no_id) == [(90, "id is required when modifying a resource")]
    ghost = api.send("PUT", "products/999", product_xml(id="999"))
    assert ghost.status_code == 404 and errors(ghost)[0][0] == 92
    read_only = api.send("PUT", f"products/{product['id']}",
                         product_xml(id=str(product["id"]), quantity="5"))
    assert read_only.status_code == 400 and errors(read_only)[0][0] == 93


def test_put_with_the_required_fields_but_no_name_is_refused(ps: PrestaShopSandbox,
                                                             api: Api) -> None:
    product = ps.add_product("A", "Kubek")
    body = xmlbody.document("product", {"id": product["id"], "price": "1.000000"})
    response = api.send("PUT", f"products/{product['id']}", body)
    # The wiped name is empty in the default language: the save is refused, nothing changes.
    assert response.status_code == 400 and errors(response)[0][0] == 84
    assert ps.tables["products"][product["id"]]["name"]["1"] == "Kubek"


def test_patch_changes_only_what_it_carries(ps: PrestaShopSandbox, api: Api) -> None:
    product = ps.add_product("A", "Kubek", ean13="5901234123457")
    body = xmlbody.document("product", {"id": product["id"], "price": "30.000000"})
    assert api.send("PATCH", f"products/{product['id']}", body).status_code == 200
    stored = ps.tables["products"][product["id"]]
    assert (stored["price"], stored["ean13"], stored["name"]["1"]) == ("30.000000",
                                                                      "5901234123457", "Kubek")
    via_ps_method = api.send("POST", f"products/{product['id']}", body, ps_method="PATCH")
    assert via_ps_method.status_code == 200


def test_stock_availables(ps: PrestaShopSandbox, api: Api, clock: Clock) -> None:
    product = ps.add_product("A", "Kubek", quantity=3)
    before = ps.tables["products"][product["id"]]["date_upd"]
    rows = api.get("stock_availables", display="full",
                   **{"filter[id_product]": f"[{product['id']}]",
                      "filter[id_product_attribute]": "[0]"}).json()["stock_availables"]
    (row,) = rows
    clock.advance(hours=1)
    full = xmlbody.document("stock_available", {**dict(row.items()), "quantity": "9"})
    assert api.send("PUT", f"stock_availables/{row['id']}", full).status_code == 200
    assert ps.stock_row(product["id"])["quantity"] == "9"
    # A stock write does not move the product's date_upd (PrestaShop/PrestaShop#20465).
    assert ps.tables["products"][product["id"]]["date_upd"] == before

    partial = xmlbody.document("stock_available", {"id": row["id"], "quantity": "4"})
    refused = api.send("PUT", f"stock_availables/{row['id']}", partial)
    assert refused.status_code == 400 and errors(refused)[0][0] == 41
    assert api.send("POST", "stock_availables", full).status_code == 405


def test_order_histories_move_the_state_and_date(ps: PrestaShopSandbox, api: Api,
                                                 clock: Clock) -> None:
    ps.add_product("A", "Kubek")
    order = ps.add_order([("A", 1, "12.30")], email="jan@example.pl", state=10)
    clock.advance(minutes=30)
    body = xmlbody.document("order_history", {"id_order": order["id"], "id_order_state": "2"})
    response = api.send("POST", "order_histories", body)
    assert response.status_code == 201
    stored = ps.tables["orders"][order["id"]]
    assert (stored["current_state"], stored["valid"]) == ("2", "1")
    assert stored["date_upd"] == "2024-06-01 12:30:00"
    # An order or state that does not exist: OrderHistory::changeIdOrderState dies, plain
    # text with HTTP 200, nothing written.
    for ids in ({"id_order": 99, "id_order_state": 2}, {"id_order": order["id"],
                                                        "id_order_state": 77}):
        died = api.send("POST", "order_histories", xmlbody.document("order_history", ids))
        assert (died.status_code, died.text) == (200, "Invalid new order status")
    assert stored["current_state"] == "2"
    listed = api.get("order_histories", display="full",
                     **{"filter[id_order]": f"[{order['id']}]"}).json()["order_histories"]
    assert [h["id_order_state"] for h in listed] == ["10", "2"]


def test_order_shape(ps: PrestaShopSandbox, api: Api) -> None:
    ps.add_product("A", "Kubek", price_gross="24.60")
    order = ps.add_order([("A", 2, "24.60")], email="jan@example.pl", shipping_gross="10.00")
    got = api.get(f"orders/{order['id']}").json()["order"]
    assert got["total_paid_tax_incl"] == "59.200000" and got["current_state"] == "2"
    (row,) = got["associations"]["order_rows"]
    assert (row["product_reference"], row["product_quantity"]) == ("A", "2")
    assert (row["unit_price_tax_incl"], row["unit_price_tax_excl"]) == ("24.600000", "20.000000")
    assert Decimal(got["total_products_wt"]) == Decimal("49.2")
    assert api.send("PUT", f"orders/{order['id']}", b"<prestashop/>").status_code == 405


def test_control_endpoints_and_faults(ps: PrestaShopSandbox, ps_server: SandboxHandle,
                                      api: Api) -> None:
    ps.faults.fail_next(1, 503)
    assert api.get("products").status_code == 503
    assert api.get("products").status_code == 200
    state = httpx.get(ps_server.url("/__sandbox/state")).json()
    assert state["platform"] == "prestashop" and state["requests"] == 2
    assert ps.log.count("GET", "/api/products") == 2


def test_seed_demo_is_reproducible(clock: Clock) -> None:
    def snapshot() -> Any:
        sandbox = PrestaShopSandbox(DEFAULT_KEY)
        sandbox.now = clock
        sandbox.seed_demo(orders=5, products=8)
        return sandbox.tables["orders"], sandbox.tables["products"]

    assert snapshot() == snapshot()


# -- what PrestaShop stores (ObjectModel::formatValue, Validate; docs/fidelity/prestashop.md) --


def post_product(api: Api, **fields: Any) -> httpx.Response:
    values: dict[str, Any] = {"reference": "F-1", "price": "10", "name": {"1": "Kubek"}}
    values.update(fields)
    return api.send("POST", "products", xmlbody.document("product", values))


def test_descriptions_are_stored_purified(ps: PrestaShopSandbox, api: Api) -> None:
    """TYPE_HTML + isCleanHtml → Tools::purifyHTML (PS_USE_HTMLPURIFIER on by default): bare
    `&`, `<`, `>` of the text become entities, CR LF becomes LF, markup and entities stay."""
    sent = "Kubek & spodek\r\n<b>5 < 7 > 3</b> &amp; &nbsp;<!-- x --><br>"
    response = post_product(api, description={"1": sent, "2": "a&b"})
    assert response.status_code == 201
    stored = response.json()["product"]["description"]
    assert stored == [
        {"id": "1", "value": ("Kubek &amp; spodek\n<b>5 &lt; 7 &gt; 3</b> &amp; &nbsp;"
                              "<!-- x --><br />")},
        {"id": "2", "value": "a&amp;b"}]


def test_purifier_off_stores_descriptions_as_sent(clock: Clock) -> None:
    sandbox = PrestaShopSandbox(html_purifier=False)
    sandbox.now = clock
    with sandbox.serve() as handle:
        api = Api(handle)
        response = post_product(api, description={"1": "a & b < c"})
        api.http.close()
    assert response.json()["product"]["description"][0]["value"] == "a & b < c"


@pytest.mark.parametrize("name", ["Kubek #1", "Kubek; duży", "a=b", "<b>", "{x}"])
def test_catalog_names_refuse_the_isCatalogName_characters(api: Api, name: str) -> None:
    response = post_product(api, name={"1": name})
    assert response.status_code == 400
    assert errors(response) == [(84, 'Validation error: "Property Product->name is not valid"')]


def test_names_longer_than_128_are_refused_and_line_breaks_dropped(api: Api) -> None:
    too_long = post_product(api, name={"1": "x" * 129})
    assert too_long.status_code == 400 and errors(too_long)[0][0] == 84
    response = post_product(api, name={"1": "Kubek\nduży", "2": "a\r\nb"})
    assert [n["value"] for n in response.json()["product"]["name"]] == ["Kubekduży", "ab"]


@pytest.mark.parametrize("html", ["<script>x</script>", '<a onclick="x">', "<p onmouseover =1>",
                                  "javascript:alert(1)", "Postscript: x", "<iframe src=x>",
                                  "< form>"])
def test_unclean_html_is_refused(api: Api, html: str) -> None:
    response = post_product(api, description={"1": html})
    assert response.status_code == 400
    message = 'Validation error: "Property Product->description is not valid"'
    assert errors(response) == [(84, message)]


def test_floats_are_stored_with_six_places(api: Api) -> None:
    product = post_product(api, price="1003.7073170", weight="0.125").json()["product"]
    assert (product["price"], product["weight"]) == ("1003.707317", "0.125000")


def test_patch_is_8_and_later(clock: Clock) -> None:
    """1.7's checkHTTPMethod knows no PATCH (405, code 23); 8.0 added executeEntityPatch."""
    for version, status in (("1.7.8.11", 405), ("8.1.7", 200), ("9.0.1", 200)):
        sandbox = PrestaShopSandbox(version=version)
        sandbox.now = clock
        product = sandbox.add_product("V", "Kubek")
        with sandbox.serve() as handle:
            api = Api(handle)
            body = xmlbody.document("product", {"id": product["id"], "reference": "V2"})
            response = api.send("PATCH", f"products/{product['id']}", body)
            assert response.headers["PSWS-Version"] == version
            api.http.close()
        assert response.status_code == status, version
        if status == 405:
            assert errors(response) == [(23, "Method PATCH is not valid")]


def test_ids_filter_and_ids_only_lists(ps: PrestaShopSandbox, api: Api, clock: Clock) -> None:
    """`filter[id]=[a|b]` is an OR list (an unknown id matches nothing); no `display` is the
    "minimum" output, ids only; `filter[date_add]` needs `date=1`."""
    product = ps.add_product("K", "Kubek")
    first = ps.add_order([("K", 1, "10.00")], email="a@example.pl")
    second = ps.add_order([("K", 1, "10.00")], email="b@example.pl")
    listed = api.get("products", display="full", **{"filter[id]": f"[{product['id']}|999]"})
    assert [p["id"] for p in listed.json()["products"]] == [product["id"]]
    assert api.get("orders", **{"filter[id]": "[998|999]"}).json() == []
    local = ps.local(clock.moment)
    ids = api.get("orders", date="1", sort="[id_ASC]",
                  **{"filter[date_add]": f"[{local},{local}]", "filter[id]": f">[{first['id']}]"})
    assert ids.json() == {"orders": [{"id": second["id"]}]}
    refused = api.get("orders", **{"filter[date_add]": f"[{local},{local}]"})
    assert refused.status_code == 400 and errors(refused)[0][0] == 32


def test_one_object_with_display_comes_in_the_list_wrapper(ps: PrestaShopSandbox,
                                                           api: Api) -> None:
    """WebserviceOutputJSON::renderNodeFooter keys on `display` being in the query string."""
    product = ps.add_product("W", "Kubek")
    plain = api.get(f"products/{product['id']}").json()
    assert plain["product"]["reference"] == "W"
    wrapped = api.get(f"products/{product['id']}", display="[id,reference]").json()
    assert wrapped == {"products": [{"id": product["id"], "reference": "W"}]}
