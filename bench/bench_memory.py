"""Peak memory of the engine while exporting a growing catalogue: it must stay flat.

    .venv/bin/python bench/bench_memory.py [--sizes 5000 50000] [--json]

For each size N: a SQLite ERP with N active products (all in the export scope), exported by
`run_operation` (the real engine and WooCommerce connector) to a WooCommerce sandbox running in
a separate process (`iluo-sync sandbox woocommerce`), so only the engine's own allocations are
traced (tracemalloc peak during the run) — then one stock run over the same catalogue. The
sizes run side by side in one invocation; the ratio of peaks is the result, not the bytes.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import delete, insert, update

from shared.db import make_engine
from shared.erp import schema as erp
from shared.erp.demo import create_erp_schema, fill_demo, naive_utc_now
from shared.migrate import TENANT, upgrade
from workers.domain import Operation
from workers.runner import run_operation

KEY, SECRET = "ck_bench_memory_0001", "cs_bench_memory_0001"


@dataclass
class Result:
    products: int
    operation: str
    seconds: float
    peak_mib: float
    outcome: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cli = Path(sys.executable).with_name("iluo-sync")
    proc = subprocess.Popen(
        [str(cli), "sandbox", "woocommerce", "--port", str(port), "--orders", "0",
         "--api-key", KEY, "--api-secret", SECRET],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/__sandbox/state", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the sandbox did not start")


def make_erp(path: Path, url: str, n: int) -> object:
    engine = make_engine(f"sqlite:///{path}")
    create_erp_schema(engine)
    fill_demo(engine, base_url=url, api_key=KEY, api_secret=SECRET, products=0)
    now = naive_utc_now()
    with engine.begin() as conn:
        conn.execute(delete(erp.shop_integration_labels))  # no label scope: every active product
        for start in range(1, n + 1, 5000):
            ids = range(start, min(n, start + 4999) + 1)
            conn.execute(insert(erp.products), [dict(
                id=i, sku=f"MEM-{i:06d}", ean=None, name=f"Produkt {i}", description="x" * 200,
                unit="szt", vat_rate=Decimal("23"), price_net=Decimal("10.00"),
                price_gross=Decimal("12.30"), weight_kg=None, is_active=True, updated_at=now,
            ) for i in ids])
            conn.execute(insert(erp.stock_levels), [dict(
                product_id=i, warehouse_id=1, quantity=Decimal(i % 50), reserved=Decimal(0),
                updated_at=now) for i in ids])
        conn.execute(update(erp.shop_integrations).values(updated_at=now))
    upgrade(engine, TENANT)
    return engine


def measure(engine: object, op: Operation, n: int) -> Result:
    tracemalloc.start()
    started = time.perf_counter()
    result = run_operation(engine, 1, op, holder="bench", time_limit_s=3600)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Result(n, op.value, round(seconds, 1), round(peak / 2**20, 2), result.outcome)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up on a tiny catalogue: module imports and SQLAlchemy's statement cache are
        # one-off allocations, not per-product ones.
        for n in [50, *args.sizes]:
            proc, url = start_sandbox()
            try:
                engine = make_erp(Path(tmp) / f"erp-{n}.db", url, n)
                results.append(measure(engine, Operation.EXPORT_PRODUCTS, n))
                results.append(measure(engine, Operation.UPDATE_STOCK, n))
            finally:
                proc.terminate()
                proc.wait(10)
        results = [r for r in results if r.products != 50 or 50 in args.sizes]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return
    print(f"{'operation':18} {'products':>9} {'seconds':>8} {'peak MiB':>9} outcome")
    for r in results:
        print(f"{r.operation:18} {r.products:9} {r.seconds:8} {r.peak_mib:9} {r.outcome}")
    for op in (Operation.EXPORT_PRODUCTS, Operation.UPDATE_STOCK):
        peaks = [r for r in results if r.operation == op.value]
        if len(peaks) >= 2:
            small, big = peaks[0], peaks[-1]
            print(f"{op.value}: {big.products / small.products:.0f}x the products, "
                  f"{big.peak_mib / small.peak_mib:.2f}x the peak memory")


if __name__ == "__main__":
    main()
