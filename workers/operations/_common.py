"""Small helpers the operations share: batching writes and pairing a batch with its answers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.exc import DataError, IntegrityError

from workers.domain import ItemResult
from workers.engine.context import RunContext
from workers.ports import ShopError

T = TypeVar("T")

#: ERP rows read per chunk when streaming the catalogue: a few write batches' worth, so memory
#: stays flat however many products there are.
CHUNK = 500

#: Database errors that concern one item (a constraint, a value that does not fit); anything
#: else (connection lost, deadlock) fails the run instead.
ITEM_DB_ERRORS = (IntegrityError, DataError)


class ItemProblem(Exception):
    """One item cannot be synced as it is; recorded as an item error, the run goes on."""


def chunked(items: Sequence[T], size: int) -> Iterator[list[T]]:
    size = max(1, size)
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


class Batcher(Generic[T]):
    """Collects items across ERP chunks and hands them on in full write batches, so a change
    spread over many chunks still costs ceil(changes / batch size) calls."""

    def __init__(self, size: Callable[[], int], send: Callable[[list[T]], None]) -> None:
        self._size = size  # read each time: a connector may shrink its batch after a 413
        self._send = send
        self._items: list[T] = []

    def add(self, item: T) -> None:
        self._items.append(item)
        self._send_full()

    def extend(self, items: Iterable[T]) -> None:
        self._items.extend(items)
        self._send_full()

    def flush(self) -> None:
        """Send everything still waiting (the last, partial batch)."""
        self._send_full()
        if self._items:
            batch, self._items = self._items, []
            self._send(batch)

    def _send_full(self) -> None:
        # Nothing waiting: the size is not even asked (asking makes the shop client).
        while self._items and len(self._items) >= (size := max(1, self._size())):
            batch, self._items = self._items[:size], self._items[size:]
            self._send(batch)


def paired(
    items: Sequence[T], results: Sequence[ItemResult], what: str
) -> list[tuple[T, ItemResult]]:
    """Each item with its answer; a shop that answers a different number fails the run, since
    we could no longer tell which item succeeded."""
    if len(results) != len(items):
        raise ShopError(f"the shop answered {len(results)} results for {len(items)} {what}")
    return list(zip(items, results, strict=True))


def db_problem(exc: Exception) -> str:
    """A database error on one item, as one line without the SQL statement."""
    original = getattr(exc, "orig", None) or exc
    return " ".join(f"{type(original).__name__}: {original}".split())[:500]


#: The event of a product the shop no longer has (issue 11, item 5).
GONE_KIND = "deleted_in_shop"


@dataclass(frozen=True, slots=True)
class Gone:
    """A bound product the shop answered it does not have (ItemResult.gone)."""

    erp_id: int
    shop_id: str
    sku: str


def forget_gone(ctx: RunContext, gone: Sequence[Gone], *, then: str) -> set[int]:
    """Products deleted in the shop behind our back: drop their bindings and last-sent values
    (one warning event each, saying what happens `then`), so that no run keeps failing on
    them. Answers the ERP ids unbound (a binding made anew meanwhile is left alone)."""
    if not gone:
        return set()
    with ctx.store.unit() as tx:
        dropped = set(tx.forget_gone_products([(g.erp_id, g.shop_id) for g in gone]))
    for item in gone:
        if item.erp_id in dropped:
            ctx.run.warning(GONE_KIND, item.sku, f"the shop no longer has product "
                            f"{item.shop_id} (deleted there): binding and last-sent values "
                            f"dropped; {then}", erp_id=item.erp_id, shop_id=item.shop_id)
    return dropped
