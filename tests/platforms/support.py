"""Helpers of the platform-parametrised suite: runs as the scheduler makes them, and the ERP
rows a test compares the shop with."""

from __future__ import annotations

from sqlalchemy import Engine, select

from shared.erp import schema as erp
from workers.domain import Operation
from workers.runner import RunResult, run_operation


def run(engine: Engine, op: Operation, **kw: object) -> RunResult:
    return run_operation(engine, 1, op, holder="suite", **kw)


def until_ok(engine: Engine, op: Operation, attempts: int = 12) -> RunResult:
    """What the scheduler does: the next run is the retry."""
    for _ in range(attempts):
        result = run(engine, op)
        if result.ok:
            return result
    raise AssertionError(f"{op.value} never succeeded: {result.error}")


def exported(engine: Engine) -> list[dict]:
    """Active products carrying label 1 (the demo integration's export scope)."""
    p, pl = erp.products, erp.product_labels
    stmt = (select(p).join(pl, pl.c.product_id == p.c.id)
            .where(pl.c.label_id == 1, p.c.is_active.is_(True)).order_by(p.c.id))
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]
