"""update_order_statuses — ERP status changes of imported orders → the shop.

An order is sent when its ERP status differs from the last one the shop received (sync_sent,
kind order_status, holding the ERP status id; import_orders records the status an order came
in with, so nothing is echoed back). Only statuses with a `shop_status_map` row are sent; an
unmapped status is left alone. Writes go in the connector's batch size; an order the shop
refuses is an item error and, its status still differing, is tried again next run.
"""

from __future__ import annotations

from workers.domain import StatusChange
from workers.engine.context import RunContext
from workers.engine.fingerprints import ORDER_STATUS
from workers.engine.runs import INFO
from workers.operations._common import CHUNK, Batcher, paired


def run(ctx: RunContext) -> None:
    status_map = ctx.integration.status_map  # ERP status id → shop status
    if not status_map:
        ctx.run.event(INFO, "nothing_mapped",
                      message="no ERP status is mapped to a shop status; nothing to send")
        return
    batcher: Batcher[StatusChange] = Batcher(lambda: ctx.shop.batch_size,
                                             lambda batch: _send(ctx, batch))
    for chunk in ctx.store.iter_orders_to_send(status_map.keys(), chunk=CHUNK):
        ctx.run.count("read", len(chunk))
        batcher.extend(StatusChange(order_id=o.order_id, external_id=o.external_id,
                                    shop_status=status_map[o.status_id],
                                    erp_status_id=o.status_id) for o in chunk)
        ctx.checkpoint(advanced=len(chunk))
    batcher.flush()
    ctx.checkpoint()


def _send(ctx: RunContext, batch: list[StatusChange]) -> None:
    answers = paired(batch, ctx.shop.set_order_statuses(batch), "order statuses")
    sent = {change.order_id: str(change.erp_status_id) for change, r in answers if r.ok}
    if sent:
        with ctx.store.unit() as tx:
            tx.record_sent(ORDER_STATUS, sent)
    for change, result in answers:
        if result.ok:
            ctx.run.count("updated")
            ctx.run.event(INFO, "status_sent", item=change.external_id, erp_id=change.order_id,
                          shop_id=change.external_id, message=change.shop_status)
        else:
            ctx.run.item_error(change.external_id, result.error or "the shop refused the status",
                               erp_id=change.order_id, shop_id=change.external_id)
