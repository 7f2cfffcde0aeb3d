from tests.engine.support import erp, erp_db, shared_maria, shared_pg, woo  # noqa: F401  (fixtures)
