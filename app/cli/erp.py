"""`iluo-sync erp create URL`: make a stand-in ERP database (for trying things, tests, the demo);
`erp set-stock` / `erp set-price`: change it as the ERP's users would, to watch a sync send it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import typer
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from app.cli import app
from app.cli.common import user_errors
from shared.control.registry import db_error_line
from shared.db import make_engine, parse_db_url, redact
from shared.erp.demo import create_erp_schema, fill_demo, set_price, set_stock
from shared.erp.schema import ERP_TABLES
from shared.errors import UserError

erp_app = typer.Typer(
    help="The ERP stand-in database (never used on a real ILUO database).", no_args_is_help=True
)
app.add_typer(erp_app, name="erp")


@erp_app.command("create")
@user_errors
def create(
    db_url: str,
    demo: bool = typer.Option(
        True, "--demo/--empty", help="Fill with demo data and one shop integration."
    ),
    shop_url: str = typer.Option(
        "http://127.0.0.1:8081", help="The demo integration's shop address."
    ),
    api_key: str = typer.Option("ck_demo", help="The demo integration's API key."),
    api_secret: str = typer.Option("cs_demo", help="The demo integration's API secret."),
) -> None:
    """Create the ERP stand-in tables in an empty database (and demo data)."""
    url = parse_db_url(db_url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names()) & set(ERP_TABLES)
        if present:
            raise UserError(f"{redact(url)} already has ERP tables ({', '.join(sorted(present))})")
        create_erp_schema(engine)
        if demo:
            fill_demo(engine, base_url=shop_url, api_key=api_key, api_secret=api_secret)
    except SQLAlchemyError as exc:
        raise UserError(
            f"cannot create the ERP tables in {redact(url)}: {db_error_line(exc)}"
        ) from None
    finally:
        engine.dispose()
    typer.echo(f"created the ERP stand-in in {redact(url)}" + (" with demo data" if demo else ""))


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UserError(f"{what} must be a number, not {text!r}") from None
    if not value.is_finite() or value < 0:
        raise UserError(f"{what} must be a number of 0 or more, not {text!r}")
    return value


@erp_app.command("set-stock")
@user_errors
def set_stock_command(
    db_url: str,
    sku: str,
    quantity: str,
    warehouse: str | None = typer.Option(
        None, "--warehouse", help="Warehouse code (default: the first warehouse)."
    ),
) -> None:
    """Set the stock of product SKU in a stand-in ERP (the next update-stock run sends it)."""
    amount = _decimal(quantity, "QUANTITY")
    url = parse_db_url(db_url)
    engine = make_engine(url)
    try:
        code = set_stock(engine, sku, amount, warehouse)
    except SQLAlchemyError as exc:
        raise UserError(f"cannot change {redact(url)}: {db_error_line(exc)}") from None
    finally:
        engine.dispose()
    typer.echo(f"{sku}: stock in {code} set to {amount}")


@erp_app.command("set-price")
@user_errors
def set_price_command(db_url: str, sku: str, gross: str) -> None:
    """Set the gross price of product SKU in a stand-in ERP (the next export-products run sends
    it)."""
    amount = _decimal(gross, "GROSS")
    url = parse_db_url(db_url)
    engine = make_engine(url)
    try:
        net = set_price(engine, sku, amount)
    except SQLAlchemyError as exc:
        raise UserError(f"cannot change {redact(url)}: {db_error_line(exc)}") from None
    finally:
        engine.dispose()
    typer.echo(f"{sku}: price set to {amount} gross ({net} net)")
