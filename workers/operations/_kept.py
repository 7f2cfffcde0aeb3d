"""What the two import operations share about the retry set (shared.erp.retry_set).

Each import run first re-reads the kept items that are due, by id and in the platform's batch
form, then reads its window. Whatever fails on any path is kept in the transaction of its page;
whatever imports is forgotten in the same transaction. An id asked for by id that the shop does
not answer at all is not dropped (it may be a shop-side glitch, or the item was deleted there):
it stays, marked as needing attention, so a person decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from shared.erp.retry_set import Failure
from workers.domain import ItemError, Page
from workers.engine.context import RunContext
from workers.engine.erp_port import ErpUnit
from workers.operations._common import chunked

T = TypeVar("T")

#: Kept items one run re-reads at most; the rest wait for the next run (a long outage of the
#: ERP leaves many, and the run must still reach its own window in good time).
MAX_RETRIES_PER_RUN = 2000

ATTENTION_PREFIX = "needs attention: "
NOT_IN_SHOP = "the shop did not return it when asked by id (deleted there?)"


def due_chunks(ctx: RunContext) -> Iterator[list[str]]:
    """The due kept items of this operation, a shop page at a time."""
    due = ctx.store.due_retries(ctx.operation.value, limit=MAX_RETRIES_PER_RUN)
    yield from chunked(due, max(1, ctx.shop.page_size))


def page_failures(errors: Sequence[ItemError]) -> list[Failure]:
    """Items the shop answered but the connector could not map: their data is what the ERP
    cannot hold (no amount, no currency; the mappings are lenient about everything else), which
    no run fixes by itself, so they need attention (a cut answer fails the whole page instead)."""
    return [Failure(shop_id=e.key, error=e.message, attention=True) for e in errors if e.key]


def not_answered(
    asked: Sequence[str] | None, page: Page[T], shop_id: Callable[[T], str | None]
) -> list[Failure]:
    """Ids read by id that the shop left out of its answer entirely."""
    if not asked:
        return []
    answered = {shop_id(item) for item in page.items} | {e.key for e in page.errors}
    return [Failure(shop_id=i, error=NOT_IN_SHOP, attention=True)
            for i in asked if i not in answered]


def describe(failure: Failure) -> str:
    return ATTENTION_PREFIX + failure.error if failure.attention else failure.error


def settle(
    tx: ErpUnit, operation: str, page: Page[T], missing: Sequence[Failure],
    failures: Sequence[Failure], imported: Sequence[str | None],
) -> None:
    """Inside a page's transaction: keep what failed on it, forget what it imported."""
    tx.keep_failed(operation, [*page_failures(page.errors), *missing, *failures])
    done = [i for i in imported if i]
    if done:
        tx.resolve_kept(operation, done)


def record_unread(ctx: RunContext, page: Page[T], missing: Sequence[Failure]) -> None:
    """The page's unreadable items and the ids it did not answer, as item errors."""
    for error in page.errors:
        ctx.run.item_error(error.key, error.message, shop_id=error.key)
    for failure in missing:
        ctx.run.item_error(failure.shop_id, describe(failure), shop_id=failure.shop_id)
