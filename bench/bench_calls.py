"""API calls per operation, through the real engine, against a platform's physical minimum.

    .venv/bin/python bench/bench_calls.py --platform prestashop [--products 1000]
        [--orders 1000] [--json]
    .venv/bin/python bench/bench_calls.py --platform idosell

Each operation runs as `iluo-sync run` would (workers.runner.run_operation, the
platform's real connector over HTTP) from a SQLite ERP to the platform's sandbox on 127.0.0.1,
using the sandbox adapter of the platform operation suite (tests/platforms/harness_<p>.py);
calls come from the sandbox's request log, split into reads and writes as the harness counts
them. The minimum is what carrying the change needs at the least (DESIGN "Performance"):
writes ceil(items / largest write batch), reads ceil(items / largest page), 0 when nothing
changed. "extra" says where the other calls go.

Scenario (N products, K orders): export N (all new) · export again (nothing changed) · export
after a price change on every product · stock, first run (full pass) · stock again (nothing
changed) · stock after every level changed · import K new orders · the reconciliation of K
order ids (`import-orders --full`) · send K status changes · import N products (full pass).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, delete, func, insert, select, update  # noqa: E402

from shared.db import make_engine  # noqa: E402
from shared.erp import schema as erp  # noqa: E402
from shared.erp.demo import create_erp_schema, fill_demo, naive_utc_now  # noqa: E402
from shared.migrate import TENANT, upgrade  # noqa: E402
from workers.domain import Operation  # noqa: E402
from workers.runner import run_operation  # noqa: E402
from workers.shops import connector_class  # noqa: E402


@dataclass
class Row:
    operation: str
    items: int
    reads: int
    writes: int
    minimum: int
    seconds: float
    extra: str

    @property
    def calls(self) -> int:
        return self.reads + self.writes


def load_harness(platform: str) -> Any:
    path = ROOT / "tests" / "platforms" / f"harness_{platform}.py"
    spec = importlib.util.spec_from_file_location(f"harness_{platform}", path)
    if spec is None or spec.loader is None or not path.exists():
        raise SystemExit(f"no sandbox adapter for {platform!r} ({path} is missing)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.make_harness()


def prepare_erp(shop: Any, products: int, directory: str) -> Engine:
    """The demo ERP with every product active and in scope (no label filter)."""
    engine = make_engine(f"sqlite:///{directory}/erp.db")
    create_erp_schema(engine)
    fill_demo(engine, platform=shop.platform, base_url=shop.base_url, api_key=shop.api_key,
              api_secret=shop.api_secret, products=products)
    with engine.begin() as conn:
        conn.execute(update(erp.products).values(is_active=True))
        conn.execute(delete(erp.shop_integration_labels))
        conn.execute(update(erp.shop_integrations).values(shop_timezone=shop.shop_timezone))
        conn.execute(delete(erp.shop_status_map))
        ids = dict(conn.execute(select(erp.order_statuses.c.code, erp.order_statuses.c.id)).all())
        conn.execute(insert(erp.shop_status_map), [
            {"integration_id": 1, "erp_status_id": ids[code], "shop_status": status}
            for code, status in shop.status_map.items()])
    upgrade(engine, TENANT)
    prepare = getattr(shop, "prepare_erp", None)
    if prepare is not None:  # a one-time step of a person (Allegro: the seller authorises)
        prepare(engine)
    return engine


def bench(platform: str, products: int, orders: int) -> tuple[list[Row], dict[str, Any]]:
    cls = connector_class(platform)
    write_batch = int(getattr(cls, "api_batch_max", cls.batch_size))
    # Allegro: an offer's title and price are one PATCH each; a stock command carries one
    # quantity for up to 1000 offers, so its minimum counts distinct quantities.
    product_batch = int(getattr(cls, "product_write_batch", write_batch))
    per_value = bool(getattr(cls, "stock_writes_per_value", False))
    page = int(cls.page_size)
    shop = load_harness(platform)
    shop.start()
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory() as directory:
            engine = prepare_erp(shop, products, directory)

            def measure(label: str, op: Operation, items: int, minimum: int, extra: str,
                        **kwargs: Any) -> None:
                reads, writes = shop.read_calls(), shop.write_calls()
                started = time.perf_counter()
                result = run_operation(engine, 1, op, holder="bench", **kwargs)
                took = time.perf_counter() - started
                if not result.ok:
                    raise SystemExit(f"{label}: {result.error}")
                rows.append(Row(label, items, shop.read_calls() - reads,
                                shop.write_calls() - writes, minimum, round(took, 2), extra))

            writes_for = lambda n: math.ceil(n / write_batch)  # noqa: E731
            reads_for = lambda n: math.ceil(n / page)  # noqa: E731
            product_writes = lambda n: math.ceil(n / product_batch)  # noqa: E731

            def stock_writes() -> int:
                """Commands the stock needs at the least: one per 1000 items, or one per
                distinct positive quantity (and one to end the zeros) where a command carries
                one value."""
                if not per_value:
                    return writes_for(products)
                s, w = erp.stock_levels, erp.shop_integration_warehouses
                with engine.connect() as conn:
                    feeding = list(conn.execute(select(w.c.warehouse_id)
                                                .where(w.c.integration_id == 1)).scalars())
                    query = select(func.sum(s.c.quantity - s.c.reserved)).group_by(s.c.product_id)
                    if feeding:  # none listed = every warehouse (CONTRACT §1)
                        query = query.where(s.c.warehouse_id.in_(feeding))
                    sums = [max(0, math.floor(q)) for (q,) in conn.execute(query)]
                return len({q for q in sums if q > 0}) + (1 if 0 in sums else 0)

            if not getattr(shop, "creates_products", True):
                # The seller lists the products on the platform first; export binds them.
                with engine.connect() as conn:
                    for row in conn.execute(select(erp.products.c.sku)):
                        shop.add_product(sku=row.sku, name=f"Oferta {row.sku}",
                                         price_gross=Decimal("1.00"), stock=1)
            measure(f"export_products ({products} new)", Operation.EXPORT_PRODUCTS, products,
                    product_writes(products), "reads: SKU lookups, once-per-run shop context")
            measure("export_products (nothing changed)", Operation.EXPORT_PRODUCTS, products, 0,
                    "")
            with engine.begin() as conn:
                conn.execute(update(erp.products).values(
                    price_gross=erp.products.c.price_gross + Decimal("1.00"),
                    updated_at=naive_utc_now() + timedelta(seconds=1)))
            measure(f"export_products ({products} changed)", Operation.EXPORT_PRODUCTS, products,
                    product_writes(products), "reads: objects a full-object PUT must echo")
            measure(f"update_stock ({products}, first run)", Operation.UPDATE_STOCK, products,
                    stock_writes(), "reads: the stock rows a write addresses, command reports")
            measure("update_stock (nothing changed)", Operation.UPDATE_STOCK, products, 0, "")
            with engine.begin() as conn:
                conn.execute(update(erp.stock_levels).values(
                    quantity=erp.stock_levels.c.quantity + 5, updated_at=naive_utc_now()))
            measure(f"update_stock ({products} changed)", Operation.UPDATE_STOCK, products,
                    stock_writes(), "")

            with engine.connect() as conn:
                skus = [r.sku for r in conn.execute(select(erp.products.c.sku)
                                                    .order_by(erp.products.c.id).limit(50))]
            for n in range(orders):
                shop.add_order(sku_lines=[(skus[n % len(skus)], 1 + n % 3, Decimal("12.30")),
                                          (skus[(n * 7) % len(skus)], 1, Decimal("5.00"))],
                               email=f"klient{n % 400}@example.pl")
            time.sleep(1.1)  # the run's window ends a second behind "now" (END_LAG)
            measure(f"import_orders ({orders} new)", Operation.IMPORT_ORDERS, orders,
                    reads_for(orders), "reads besides order pages: related records, extra deltas")
            # The daily net under the cursor (forced now): ids of the orders created in the last
            # 14 days against the ERP's; none is missing, so nothing is read by id. The same
            # run re-reads its window's overlap (these orders are minutes old), so the run just
            # before without the net is the baseline: the difference is the net's cost.
            measure("import_orders again (overlap only)", Operation.IMPORT_ORDERS, 0, 0,
                    "the window's overlap re-read (orders minutes old)")
            measure(f"  + reconciliation ({orders} order ids)", Operation.IMPORT_ORDERS, orders,
                    reads_for(orders), "ids-only pages: the difference to the row above",
                    full=True)
            with engine.begin() as conn:
                shipped = conn.execute(select(erp.order_statuses.c.id).where(
                    erp.order_statuses.c.code == "shipped")).scalar_one()
                conn.execute(update(erp.orders).values(
                    status_id=shipped, updated_at=naive_utc_now() + timedelta(seconds=1)))
            measure(f"update_order_statuses ({orders})", Operation.UPDATE_ORDER_STATUSES, orders,
                    math.ceil(orders / int(getattr(cls, "status_write_batch", write_batch))),
                    "reads: a revision read before each write (Allegro)" if per_value else "")
            product_page = int(getattr(cls, "product_page_size", page))
            measure(f"import_products ({products}, full pass)", Operation.IMPORT_PRODUCTS,
                    products, math.ceil(products / product_page),
                    "reads: shop context, a last empty page",
                    full=True)
    finally:
        shop.stop()
    return rows, {"platform": platform, "page": page, "write_batch": write_batch}


def render(rows: list[Row], meta: dict[str, Any]) -> str:
    lines = [f"{meta['platform']}: pages of {meta['page']}, writes of up to "
             f"{meta['write_batch']} item(s) per call",
             f"{'operation':40} {'reads':>6} {'writes':>6} {'calls':>6} {'minimum':>8} "
             f"{'ratio':>6} {'s':>6}  extra"]
    for row in rows:
        ratio = "—" if not row.minimum else f"{row.calls / row.minimum:.2f}"
        if not row.minimum and not row.calls:
            ratio = "0 = 0"
        lines.append(f"{row.operation:40} {row.reads:6} {row.writes:6} {row.calls:6} "
                     f"{row.minimum:8} {ratio:>6} {row.seconds:6.2f}  {row.extra}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", required=True)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows, meta = bench(args.platform, args.products, args.orders)
    if args.json:
        print(json.dumps({**meta, "rows": [asdict(r) | {"calls": r.calls} for r in rows]},
                         indent=2))
    else:
        print(render(rows, meta))


if __name__ == "__main__":
    main()
