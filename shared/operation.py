"""The five operations (CONTRACT §2): their names as the ERP, the control DB and the messages
store them, and the lease resource each one takes."""

from __future__ import annotations

import enum


class Operation(str, enum.Enum):
    """The five operations; the value is the name stored in the ERP and the control DB."""

    IMPORT_ORDERS = "import_orders"
    UPDATE_ORDER_STATUSES = "update_order_statuses"
    EXPORT_PRODUCTS = "export_products"
    IMPORT_PRODUCTS = "import_products"
    UPDATE_STOCK = "update_stock"

    @property
    def cli_name(self) -> str:
        return self.value.replace("_", "-")

    @property
    def resource(self) -> str:
        """The lease resource: both product operations share `catalog` so they never overlap."""
        return _RESOURCES[self]

    @classmethod
    def parse(cls, text: str) -> Operation:
        """Accept `import-orders` (command line) or `import_orders` (database)."""
        try:
            return cls(text.strip().replace("-", "_"))
        except ValueError:
            names = ", ".join(op.cli_name for op in cls)
            raise ValueError(f"unknown operation {text!r} (expected one of: {names})") from None


_RESOURCES = {
    Operation.IMPORT_ORDERS: "orders",
    Operation.UPDATE_ORDER_STATUSES: "order_statuses",
    Operation.EXPORT_PRODUCTS: "catalog",
    Operation.IMPORT_PRODUCTS: "catalog",
    Operation.UPDATE_STOCK: "stock",
}
