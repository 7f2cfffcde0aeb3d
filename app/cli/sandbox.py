"""`iluo-sync sandbox PLATFORM`: a sandbox shop speaking PLATFORM's API on this machine."""

from __future__ import annotations

import importlib

import typer

from app.cli import app
from app.cli.common import user_errors
from shared.errors import UserError

# platform -> module with serve_forever(host, port, **options)
SANDBOXES = {"woocommerce": "workers.shops.woocommerce.sandbox",
             "shoper": "workers.shops.shoper.sandbox",
             "prestashop": "workers.shops.prestashop.sandbox",
             "idosell": "workers.shops.idosell.sandbox",
             "allegro": "workers.shops.allegro.sandbox"}


@app.command("sandbox")
@user_errors
def sandbox(
    platform: str,
    port: int = typer.Option(8081, "--port", min=0, max=65535),
    host: str = typer.Option("127.0.0.1", "--host"),
    orders: int = typer.Option(20, "--orders", min=0, help="Demo orders to seed."),
    products: int = typer.Option(0, "--products", min=0, help="Demo products to seed."),
    api_key: str = typer.Option("ck_demo", "--api-key"),
    api_secret: str = typer.Option("cs_demo", "--api-secret"),
    error_rate: float = typer.Option(
        0.0, "--error-rate", min=0.0, max=1.0, help="Share of requests answered 5xx."
    ),
    rate_limit_rate: float = typer.Option(
        0.0, "--rate-limit-rate", min=0.0, max=1.0, help="Share answered 429."
    ),
    latency_ms: int = typer.Option(0, "--latency-ms", min=0),
) -> None:
    """Serve a sandbox shop until Ctrl-C (for trying an integration before a live shop)."""
    module = SANDBOXES.get(platform.lower())
    if module is None:
        raise UserError(f"no sandbox for {platform!r} (available: {', '.join(sorted(SANDBOXES))})")
    serve_forever = importlib.import_module(module).serve_forever
    try:
        serve_forever(
            host, port, seed_orders=orders, seed_products=products, consumer_key=api_key,
            consumer_secret=api_secret, error_rate=error_rate, rate_limit_rate=rate_limit_rate,
            latency_ms=latency_ms,
        )
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
