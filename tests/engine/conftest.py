from tests.engine.support import erp, woo  # noqa: F401  (fixtures)
