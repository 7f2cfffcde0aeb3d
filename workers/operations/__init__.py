"""The five operations (CONTRACT §2), each a `run(ctx: RunContext) -> None` written against the
two ports only: `ctx.store` (ErpStore) and `ctx.shop` (ShopClient)."""

from __future__ import annotations

from collections.abc import Callable

from workers.domain import Operation
from workers.engine.context import RunContext
from workers.operations import (
    export_products,
    import_orders,
    import_products,
    update_order_statuses,
    update_stock,
)

OPERATIONS: dict[Operation, Callable[[RunContext], None]] = {
    Operation.IMPORT_ORDERS: import_orders.run,
    Operation.UPDATE_ORDER_STATUSES: update_order_statuses.run,
    Operation.EXPORT_PRODUCTS: export_products.run,
    Operation.IMPORT_PRODUCTS: import_products.run,
    Operation.UPDATE_STOCK: update_stock.run,
}
