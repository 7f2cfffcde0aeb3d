"""Shoper: a 1,000-product stock update against the documented bucket, and calls per operation.

    .venv/bin/python bench/bench_shoper_bucket.py [--products 1000] [--limit 10]
        [--bandwidth 2] [--bulk-cost call|item] [--orders 500] [--json]

Part 1 runs in real time against the sandbox on 127.0.0.1 with Shoper's documented leaky
bucket (10 calls, leaking 2/s): wall time of `set_stock` for every product against the least
time the bucket allows for the calls made, the number of calls, and 429s (ideally 0).
For N calls into an empty bucket of size B leaking r/s the least time is (N − B)/r: B calls
go at once, every further one waits for one to leak out.

Part 2 counts calls per operation at the connector level (fast bucket, so no waiting) against
the physical minimum: reads of ceil(items / 50) pages, writes of ceil(items / 25) bulks. The
token is warm, as in a worker process that has run before (tokens live 30 days and are kept
per process), so a login is in neither column.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.domain import Product, StatusChange, StockQuantity
from workers.ports import ShopConnection
from workers.shops.shoper.bucket import LeakyBucket
from workers.shops.shoper.client import ShoperClient
from workers.shops.shoper.sandbox import ShoperSandbox

LOGIN, PASSWORD = "webapi-bench", "haslo-bench-123"
PAGE, BULK = 50, 25


@dataclass
class Row:
    operation: str
    items: int
    calls: int
    minimum: int
    detail: str

    @property
    def ratio(self) -> float:
        return self.calls / self.minimum if self.minimum else math.inf


def connection(base_url: str) -> ShopConnection:
    return ShopConnection(integration_id=1, platform="shoper", base_url=base_url,
                          api_key=LOGIN, api_secret=PASSWORD)


def stock_run(products: int, limit: float, bandwidth: float, bulk_cost: str) -> dict:
    shop = ShoperSandbox(LOGIN, PASSWORD, bucket_limit=limit, bucket_bandwidth=bandwidth,
                         bulk_cost=bulk_cost)
    for n in range(products):
        shop.add_product(f"P-{n:05d}", f"Produkt {n}", "10.00", 0)
    shop.bucket.reset()
    quantities = [StockQuantity(sku=f"P-{n:05d}", quantity=(n * 7) % 100,
                                shop_id=f"{n + 1}:{n + 1}") for n in range(products)]
    with shop.serve() as handle:
        client = ShoperClient(connection(handle.base_url), bucket=LeakyBucket())
        started = time.perf_counter()
        results = []
        for start in range(0, products, client.batch_size):  # as update_stock batches them
            results += client.set_stock(quantities[start:start + client.batch_size])
        wall = time.perf_counter() - started
        stats = client.http.stats
        client.close()
    assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
    bulks = shop.log.count("POST", "/webapi/rest/bulk")
    units = stats.calls + (bulks * (BULK - 1) if bulk_cost == "item" else 0)
    if bulk_cost == "item":  # the last bulk is let in once the fill is down to B − 1
        minimum = max(0.0, units - BULK - (limit - 1)) / bandwidth
    else:
        minimum = max(0.0, stats.calls - limit) / bandwidth
    return {
        "products": products, "bucket": f"{limit:g} calls, {bandwidth:g}/s", "bulk_cost": bulk_cost,
        "calls": stats.calls, "bulk_calls": bulks, "logins": client.logins,
        "http_429": stats.throttled, "shop_refused": shop.bucket.refused,
        "peak_fill": round(shop.bucket.peak, 2), "wall_s": round(wall, 2),
        "bucket_minimum_s": round(minimum, 2),
        "overhead_s": round(wall - minimum, 2),
        "ratio": round(wall / minimum, 3) if minimum else None,
        "waited_in_limiter_s": round(client.bucket.waited, 2),
    }


def calls_per_operation(orders: int) -> list[Row]:
    shop = ShoperSandbox(LOGIN, PASSWORD, bucket_bandwidth=100_000)
    rows: list[Row] = []
    with shop.serve() as handle:
        warm = ShoperClient(connection(handle.base_url), bucket=LeakyBucket(bandwidth=100_000))
        warm.find_products_by_sku(["WARM-UP"])  # logs in once; later clients reuse the token
        warm.close()

        def fresh() -> ShoperClient:
            shop.log.clear()
            return ShoperClient(connection(handle.base_url), bucket=LeakyBucket(
                bandwidth=100_000), rescan=timedelta(days=14))

        def count(client: ShoperClient) -> int:
            calls = client.http.stats.calls
            client.close()
            return calls

        # Catalogue for the product operations: 500 new products (export = lookup + create).
        n = 500
        products = [Product(sku=f"E-{i:04d}", name=f"Eksport {i}", price_gross=Decimal("19.99"),
                            vat_rate=Decimal("23")) for i in range(n)]
        client = fresh()
        found = client.find_products_by_sku([p.sku for p in products])
        assert not found
        created = [r for s in range(0, n, BULK)
                   for r in client.create_products(products[s:s + BULK])]
        assert all(r.ok for r in created)
        rows.append(Row("export_products (500 new)", n, count(client),
                        math.ceil(n / PAGE) + math.ceil(n / BULK),
                        "SKU lookups + create bulks; we add: category, taxes, "
                        "and one base-row read per 25 creates for the stock ids"))

        bound = [Product(sku=p.sku, name=p.name + " v2", price_gross=Decimal("21.00"),
                         shop_id=r.shop_id) for p, r in zip(products, created, strict=True)]
        client = fresh()
        updated = [r for s in range(0, n, BULK) for r in client.update_products(bound[s:s + BULK])]
        assert all(r.ok for r in updated)
        rows.append(Row("export_products (500 changed)", n, count(client),
                        math.ceil(n / BULK), "update bulks"))

        client = fresh()
        imported = [p for page in client.iter_products(None, datetime.now(UTC)) for p in page.items]
        assert len(imported) == n
        rows.append(Row("import_products (500, full pass)", n, count(client),
                        math.ceil(n / PAGE), "pages; we add: taxes (VAT rates)"))

        stock = [StockQuantity(sku=p.sku, quantity=5, shop_id=r.shop_id)
                 for p, r in zip(products, created, strict=True)] * 2
        client = fresh()
        sent = [r for s in range(0, len(stock), BULK) for r in client.set_stock(stock[s:s + BULK])]
        assert all(r.ok for r in sent)
        rows.append(Row("update_stock (1000 values)", len(stock), count(client),
                        math.ceil(len(stock) / BULK), "stock bulks"))

        # Orders: 2 lines each, all new, placed within the window; all still open.
        now = datetime.now(UTC)
        for i in range(orders):
            shop.add_order([(f"E-{i % n:04d}", 1, "19.99"), ("OBCY-1", 2, "5.00")],
                           email=f"k{i}@example.pl", created=now - timedelta(minutes=30) +
                           timedelta(seconds=i))
        client = fresh()
        got = [o for page in client.iter_orders(now - timedelta(hours=1),
                                                now + timedelta(minutes=5)) for o in page.items]
        assert len({o.external_id for o in got}) == orders
        lines = 2 * orders
        rows.append(Row(f"import_orders ({orders} new, 2 lines)", orders, count(client),
                        math.ceil(orders / PAGE) + math.ceil(lines / PAGE),
                        "order pages + line pages; we add: a second stream "
                        "(status_date), the half-hourly open-order re-scan (this window "
                        "crosses a mark), currencies/payments/shippings/statuses, and "
                        "one re-read row per keyset page"))

        client = fresh()
        quiet = _quiet_window(now)
        again = [o for page in client.iter_orders(*quiet) for o in page.items]
        rows.append(Row(f"import_orders (nothing new, {orders} open)", len(again), count(client),
                        1, "one empty page; we read two streams (date, status_date); no "
                        "half-hour mark in this window, so no re-scan"))

        changes = [StatusChange(order_id=i, external_id=str(i + 1), shop_status="7",
                                erp_status_id=4) for i in range(orders)]
        client = fresh()
        done = [r for s in range(0, orders, BULK)
                for r in client.set_order_statuses(changes[s:s + BULK])]
        assert all(r.ok for r in done)
        rows.append(Row(f"update_order_statuses ({orders})", orders, count(client),
                        math.ceil(orders / BULK), "status bulks"))
    return rows


def _quiet_window(now: datetime) -> tuple[datetime, datetime]:
    """A 5-minute window after `now` that crosses no half-hour mark."""
    start = now + timedelta(minutes=1)
    while (start.minute % 30) > 24:
        start += timedelta(minutes=5)
    return start, start + timedelta(minutes=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--limit", type=float, default=10)
    parser.add_argument("--bandwidth", type=float, default=2)
    parser.add_argument("--bulk-cost", choices=("call", "item"), default="call")
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    stock = stock_run(args.products, args.limit, args.bandwidth, args.bulk_cost)
    rows = calls_per_operation(args.orders)
    if args.json:
        print(json.dumps({"stock_update": stock,
                          "calls_per_operation": [asdict(r) | {"ratio": round(r.ratio, 2)}
                                                  for r in rows]}, indent=2))
        return
    print(f"Stock update of {stock['products']} products, bucket {stock['bucket']}, "
          f"bulk costs 1 per {stock['bulk_cost']}:")
    for key in ("calls", "bulk_calls", "logins", "http_429", "shop_refused", "peak_fill",
                "wall_s", "bucket_minimum_s", "overhead_s", "ratio", "waited_in_limiter_s"):
        print(f"  {key:22} {stock[key]}")
    print("\nCalls per operation (connector level) against the minimum:")
    print(f"  {'operation':42} {'items':>6} {'calls':>6} {'min':>5} {'ratio':>6}")
    for row in rows:
        print(f"  {row.operation:42} {row.items:>6} {row.calls:>6} {row.minimum:>5} "
              f"{row.ratio:>6.2f}   {row.detail}")


if __name__ == "__main__":
    main()
