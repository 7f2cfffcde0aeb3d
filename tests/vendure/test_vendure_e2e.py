"""The five operations end to end: a demo ERP (SQLite) ⇄ a real Vendure 3.7.3 server.

Everything goes through `run_operation` and the platform factory (`workers.shops.connect`), as
`iluo-sync run` does. Each operation runs twice and the second run must change nothing. Vendure
is read back through the harness's own Admin API client, not through the connector.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from shared.erp import schema as erp
from tests.vendure.conftest import VendureErp, VendureShop
from tests.vendure.harness import (
    create_product,
    order_state,
    place_order,
    settle_payments,
    ship_order,
    shop_checkout,
    variant_stock,
)
from workers.domain import Operation
from workers.runner import RunResult, run_operation

pytestmark = pytest.mark.slow


def run(erp_db: VendureErp, operation: str, **kwargs: Any) -> RunResult:
    result = run_operation(erp_db.engine, 1, Operation.parse(operation), **kwargs)
    assert result.outcome == "ok", result.error
    return result


def changed(result: RunResult) -> int:
    return sum(result.counts.get(k, 0) for k in ("created", "updated", "failed"))


def rows(engine: Engine, stmt: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(stmt).all())


def exported_products(erp_db: VendureErp) -> list[Any]:
    """Active ERP products carrying export label 1 (the demo integration's only label)."""
    p, pl = erp.products, erp.product_labels
    return rows(erp_db.engine, select(p).join(pl, pl.c.product_id == p.c.id)
                .where(pl.c.label_id == 1, p.c.is_active.is_(True)).order_by(p.c.id))


def variants_by_sku(shop: VendureShop, skus: list[str]) -> dict[str, list[dict[str, Any]]]:
    data = shop.api("query($s:[String!]!){productVariants(options:{filter:{sku:{in:$s}},"
                    "take:1000}){items{id sku name priceWithTax enabled "
                    "stockLevels{stockOnHand stockAllocated} "
                    "product{id name description enabled}}}}",
                    {"s": skus})
    found: dict[str, list[dict[str, Any]]] = {}
    for row in data["productVariants"]["items"]:
        found.setdefault(row["sku"], []).append(row)
    return found


def erp_saleable(erp_db: VendureErp, product_id: int) -> int:
    """floor(max(0, Σ(quantity − reserved))) over the integration's warehouse (1)."""
    s = erp.stock_levels
    total = rows(erp_db.engine, select(func.sum(s.c.quantity - s.c.reserved)).where(
        s.c.product_id == product_id, s.c.warehouse_id == 1))[0][0]
    return int(max(Decimal(0), Decimal(total or 0)).to_integral_value(rounding=ROUND_FLOOR))


def minor(amount: Decimal) -> int:
    return int(amount * 100)


def stocked_in_vendure(erp_db: VendureErp, count: int) -> list[Any]:
    """Export the catalogue and its stock, then `count` products Vendure can sell 3 of."""
    run(erp_db, "export_products")
    run(erp_db, "update_stock")
    products = [p for p in exported_products(erp_db) if erp_saleable(erp_db, p.id) >= 3]
    assert len(products) >= count
    return products[:count]


# -- export_products ------------------------------------------------------------------------------


def test_exported_products_appear_in_vendure_and_a_rerun_changes_nothing(
        vendure: VendureShop, vendure_erp: VendureErp) -> None:
    products = exported_products(vendure_erp)
    assert len(products) >= 5

    first = run(vendure_erp, "export_products")
    second = run(vendure_erp, "export_products")

    assert first.counts["created"] == len(products)
    assert changed(second) == 0 and second.counts["unchanged"] == len(products)
    in_shop = variants_by_sku(vendure, [p.sku for p in products])
    for product in products:
        [variant] = in_shop[product.sku]
        assert variant["name"] == product.name
        assert variant["product"]["name"] == product.name
        assert variant["product"]["description"] == product.description
        assert variant["priceWithTax"] == minor(product.price_gross)
        assert variant["enabled"] is True
    # Not exported: unlabelled or inactive products.
    all_skus = [r.sku for r in rows(vendure_erp.engine, select(erp.products.c.sku))]
    others = set(all_skus) - {p.sku for p in products}
    assert others and not set(variants_by_sku(vendure, sorted(others)))

    # A change in the ERP goes out on the next run, and only that one.
    target = products[0]
    with vendure_erp.engine.begin() as conn:
        conn.execute(update(erp.products).where(erp.products.c.id == target.id).values(
            name="Kubek zmieniony", price_gross=Decimal("123.45")))
    third = run(vendure_erp, "export_products")
    assert third.counts["updated"] == 1 and third.counts.get("created", 0) == 0
    [variant] = variants_by_sku(vendure, [target.sku])[target.sku]
    assert variant["priceWithTax"] == 12345
    assert variant["name"] == variant["product"]["name"] == "Kubek zmieniony"
    assert changed(run(vendure_erp, "export_products")) == 0


# -- update_stock ---------------------------------------------------------------------------------


def test_erp_stock_becomes_the_saleable_quantity_even_with_vendure_allocations(
        vendure: VendureShop, vendure_erp: VendureErp) -> None:
    run(vendure_erp, "export_products")
    products = exported_products(vendure_erp)

    first = run(vendure_erp, "update_stock")
    second = run(vendure_erp, "update_stock")

    assert first.counts["updated"] == len(products)
    assert changed(second) == 0
    in_shop = variants_by_sku(vendure, [p.sku for p in products])
    for product in products:
        [variant] = in_shop[product.sku]
        assert variant_stock(vendure.api, variant["id"])["saleable"] == erp_saleable(
            vendure_erp, product.id), product.sku

    # An order placed in Vendure allocates stock there; the ERP reserves it too once it knows.
    target = max(products, key=lambda p: erp_saleable(vendure_erp, p.id))
    expected = erp_saleable(vendure_erp, target.id)
    assert expected >= 3
    variant_id = in_shop[target.sku][0]["id"]
    place_order(vendure.api, vendure.setup, [(variant_id, 2)],
                email=f"{vendure_erp.prefix.lower()}stock@example.pl")
    assert variant_stock(vendure.api, variant_id) == {
        "on_hand": expected, "allocated": 2, "saleable": expected - 2}
    with vendure_erp.engine.begin() as conn:
        conn.execute(update(erp.stock_levels).where(
            erp.stock_levels.c.product_id == target.id, erp.stock_levels.c.warehouse_id == 1,
        ).values(reserved=erp.stock_levels.c.reserved + 2))

    third = run(vendure_erp, "update_stock")

    assert third.counts["updated"] == 1
    # The shop may sell exactly the ERP's number: on hand = ERP number + Vendure's allocation.
    assert variant_stock(vendure.api, variant_id) == {
        "on_hand": expected, "allocated": 2, "saleable": expected - 2}
    assert erp_saleable(vendure_erp, target.id) == expected - 2
    assert changed(run(vendure_erp, "update_stock")) == 0


# -- import_orders --------------------------------------------------------------------------------


def _erp_order(erp_db: VendureErp, external_id: str) -> Any:
    found = rows(erp_db.engine, select(erp.orders, erp.order_statuses.c.code.label("status"))
                 .join(erp.order_statuses, erp.order_statuses.c.id == erp.orders.c.status_id)
                 .where(erp.orders.c.integration_id == 1, erp.orders.c.external_id == external_id))
    return found[0] if found else None


def test_orders_placed_in_vendure_are_imported_with_lines_and_customer(
        vendure: VendureShop, vendure_erp: VendureErp) -> None:
    products = stocked_in_vendure(vendure_erp, 3)
    ids = {sku: rows_[0]["id"] for sku, rows_ in
           variants_by_sku(vendure, [p.sku for p in products]).items()}
    mail = vendure_erp.prefix.lower()
    paid = place_order(vendure.api, vendure.setup, [(ids[products[0].sku], 2),
                                                    (ids[products[1].sku], 1)],
                       email=f"{mail}jan@example.pl")
    authorised = shop_checkout(vendure.base_url, [(ids[products[2].sku], 1)],
                               email=f"{mail}anna@example.pl")
    cart = shop_checkout(vendure.base_url, [(ids[products[2].sku], 1)],
                         email=f"{mail}cart@example.pl", checkout=False)
    checkout = shop_checkout(vendure.base_url, [(ids[products[2].sku], 1)],
                             email=f"{mail}checkout@example.pl", pay=False)
    draft = vendure.api("mutation{createDraftOrder{id}}")["createDraftOrder"]["id"]
    assert authorised["state"] == "PaymentAuthorized"
    assert (cart["state"], checkout["state"]) == ("AddingItems", "ArrangingPayment")

    first = run(vendure_erp, "import_orders")
    second = run(vendure_erp, "import_orders")

    assert first.counts["created"] >= 2
    assert changed(second) == 0
    # Carts, checkouts in progress and admin drafts are not orders yet.
    for not_placed in (cart["id"], checkout["id"], draft):
        assert _erp_order(vendure_erp, not_placed) is None

    order = _erp_order(vendure_erp, paid.id)
    assert order.external_number == paid.code
    assert order.currency == "PLN" and order.is_paid is True and order.status == "new"
    assert order.shipping_gross == Decimal("15.00") and order.payment_method == "przelew"
    assert order.total_gross == (2 * products[0].price_gross + products[1].price_gross
                                 + Decimal("15.00"))
    lines = rows(vendure_erp.engine, select(erp.order_lines).where(
        erp.order_lines.c.order_id == order.id).order_by(erp.order_lines.c.line_no))
    assert [(ln.sku, ln.quantity, ln.unit_price_gross, ln.product_id) for ln in lines] == [
        (products[0].sku, 2, products[0].price_gross, products[0].id),
        (products[1].sku, 1, products[1].price_gross, products[1].id),
    ]
    [customer] = rows(vendure_erp.engine, select(erp.customers).where(
        erp.customers.c.id == order.customer_id))
    assert (customer.email, customer.first_name, customer.last_name) == (
        f"{mail}jan@example.pl", "Jan", "Kowalski")
    assert (customer.street, customer.city, customer.postcode, customer.country_code) == (
        "ul. Długa 5 m. 3", "Kraków", "30-001", "PL")
    assert customer.company == "Kowalski Sp. z o.o." and customer.phone == "+48 600 100 200"

    unpaid = _erp_order(vendure_erp, authorised["id"])
    assert unpaid.is_paid is False and unpaid.status == "new"

    # Later, in the shop: the money arrives for one order, the other ships. Neither moves the
    # order's updatedAt in Vendure; the re-scan of open orders still brings both changes in.
    before = {oid: order_state(vendure.api, oid)["updatedAt"] for oid in (paid.id,
                                                                           authorised["id"])}
    settle_payments(vendure.api, authorised["id"])
    ship_order(vendure.api, paid.id)
    assert {oid: order_state(vendure.api, oid)["updatedAt"] for oid in before} == before

    third = run(vendure_erp, "import_orders")

    assert third.counts["updated"] == 2
    assert _erp_order(vendure_erp, authorised["id"]).is_paid is True
    assert _erp_order(vendure_erp, paid.id).status == "shipped"
    assert changed(run(vendure_erp, "import_orders")) == 0


# -- update_order_statuses ------------------------------------------------------------------------


def test_erp_status_changes_move_the_vendure_orders_along(
        vendure: VendureShop, vendure_erp: VendureErp) -> None:
    products = stocked_in_vendure(vendure_erp, 2)
    ids = [rows_[0]["id"] for rows_ in
           variants_by_sku(vendure, [p.sku for p in products]).values()]
    mail = vendure_erp.prefix.lower()
    ship_me, cancel_me, leave_me = (
        place_order(vendure.api, vendure.setup, [(ids[0], 1), (ids[1], 2)],
                    email=f"{mail}{n}@example.pl") for n in ("a", "b", "c"))
    run(vendure_erp, "import_orders")
    assert changed(run(vendure_erp, "update_order_statuses")) == 0  # the import is not echoed

    status = dict(rows(vendure_erp.engine, select(erp.order_statuses.c.code,
                                                  erp.order_statuses.c.id)))

    def set_erp_status(external_id: str, code: str) -> None:
        with vendure_erp.engine.begin() as conn:
            conn.execute(update(erp.orders).where(
                erp.orders.c.integration_id == 1, erp.orders.c.external_id == external_id,
            ).values(status_id=status[code], updated_at=func.current_timestamp()))

    set_erp_status(ship_me.id, "shipped")
    set_erp_status(cancel_me.id, "cancelled")
    set_erp_status(leave_me.id, "in_progress")  # not mapped: left alone

    first = run(vendure_erp, "update_order_statuses")
    second = run(vendure_erp, "update_order_statuses")

    assert first.counts["updated"] == 2 and changed(second) == 0
    shipped = order_state(vendure.api, ship_me.id)
    assert shipped["state"] == "Shipped"
    assert [f["state"] for f in shipped["fulfillments"]] == ["Shipped"]
    assert order_state(vendure.api, cancel_me.id)["state"] == "Cancelled"
    assert order_state(vendure.api, leave_me.id)["state"] == "PaymentSettled"

    set_erp_status(ship_me.id, "delivered")
    assert run(vendure_erp, "update_order_statuses").counts["updated"] == 1
    assert order_state(vendure.api, ship_me.id)["state"] == "Delivered"
    assert changed(run(vendure_erp, "update_order_statuses")) == 0
    # ...and the next import does not take the shop's echo of our own change for news.
    run(vendure_erp, "import_orders")
    assert _erp_order(vendure_erp, ship_me.id).status == "delivered"


# -- import_products ------------------------------------------------------------------------------


def test_products_created_in_vendure_are_imported_into_the_erp(
        vendure: VendureShop, vendure_erp: VendureErp) -> None:
    prefix = vendure_erp.prefix
    made = {}
    for n, (name, price) in enumerate((("Czajnik", 8999), ("Dzbanek", 4550),
                                       ("Filiżanka", 1299)), start=1):
        product_id, [_variant_id] = create_product(vendure.api, name, [
            {"sku": f"{prefix}IMP-{n}", "price": price}])
        made[f"{prefix}IMP-{n}"] = (product_id, name, Decimal(price) / 100)

    first = run(vendure_erp, "import_products")
    second = run(vendure_erp, "import_products")

    assert first.counts["created"] >= 3
    assert changed(second) == 0
    imported = {r.sku: r for r in rows(vendure_erp.engine, select(erp.products).where(
        erp.products.c.sku.in_(list(made))))}
    assert set(imported) == set(made)
    for sku, (_, name, price) in made.items():
        row = imported[sku]
        assert (row.name, row.price_gross, row.vat_rate, row.is_active) == (
            name, price, Decimal("23.00"), True)

    # Renaming the product in Vendure does not touch its variant's updatedAt; it still comes in.
    sku = f"{prefix}IMP-1"
    vendure.api("mutation($i:UpdateProductInput!){updateProduct(input:$i){id}}", {"i": {
        "id": made[sku][0], "translations": [{"languageCode": "en", "name": "Czajnik stalowy"}]}})
    third = run(vendure_erp, "import_products")
    assert third.counts["updated"] == 1
    assert rows(vendure_erp.engine, select(erp.products.c.name).where(
        erp.products.c.sku == sku))[0][0] == "Czajnik stalowy"
    assert changed(run(vendure_erp, "import_products")) == 0


# -- a product deleted in Vendure behind our back --------------------------------------------------


def test_a_product_deleted_in_vendure_is_recreated_once_and_stock_stops_failing(
        vendure: VendureShop, vendure_erp: VendureErp) -> None:
    run(vendure_erp, "export_products")
    run(vendure_erp, "update_stock")
    first, second = exported_products(vendure_erp)[:2]
    in_shop = variants_by_sku(vendure, [first.sku, second.sku])
    for product in (first, second):  # soft-deleted: Vendure keeps the rows with deletedAt set
        vendure.api("mutation($id:ID!){deleteProduct(id:$id){result}}",
                    {"id": in_shop[product.sku][0]["product"]["id"]})
    assert not variants_by_sku(vendure, [first.sku, second.sku])

    with vendure_erp.engine.begin() as conn:  # the first's stock, the second's name change
        conn.execute(update(erp.stock_levels).where(erp.stock_levels.c.product_id == first.id)
                     .values(quantity=Decimal(41), reserved=Decimal(0)))
        conn.execute(update(erp.products).where(erp.products.c.id == second.id)
                     .values(name="Po usunięciu"))
    stock = run(vendure_erp, "update_stock")
    assert stock.counts["failed"] == 0 and stock.counts["skipped"] == 1
    assert run(vendure_erp, "update_stock").counts["failed"] == 0

    export = run(vendure_erp, "export_products")

    assert export.counts["failed"] == 0 and export.counts["created"] == 2
    again = variants_by_sku(vendure, [first.sku, second.sku])
    assert len(again[first.sku]) == len(again[second.sku]) == 1
    assert again[second.sku][0]["name"] == "Po usunięciu"
    assert changed(run(vendure_erp, "export_products")) == 0
    stock = run(vendure_erp, "update_stock")
    assert stock.counts["failed"] == 0 and stock.counts["updated"] == 2
    assert variant_stock(vendure.api, again[first.sku][0]["id"])["saleable"] == 41
    assert changed(run(vendure_erp, "update_stock")) == 0
