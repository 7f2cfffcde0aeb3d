"""Reading Shoper lists without skipping rows: keyset paging and a merge of two streams.

Shoper lists are `page`/`limit` (≤ 50) over a `filters` + `order` query. Offset paging over a
set that changes while we read skips rows (an order whose status changes leaves a
`status_date` window and every row behind it moves one place forward), so reads move a bound
instead of a page number wherever they can:

- `iter_keyset`: ordered by `(key asc, id asc)` with an inclusive lower bound on `key`; after
  each page the bound moves to the last row's key and reading restarts at page 1, dropping rows
  already seen. A page that all shares one key cannot move the bound, so we page on by number
  within it. A page reached by number that holds nothing new fails the run (the shop keeps
  answering the same page) instead of looping or truncating.
- `iter_by_id`: for keys that never change (`order_id`, `product_id`): `id > last`, page 1.
- `merge_by_key`: orders have no "updated" field, so they are read as two keyset streams
  (`date` and `status_date`); the merge emits rows in key order and only up to the lowest key
  either stream has reached, so a cursor taken from what was emitted never passes a row the
  other stream has not delivered yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from workers.ports import ShopError
from workers.shops.shoper.mapping import ListPage

#: fetch(path, filters, order, page) → one page of at most the client's page size.
Fetch = Callable[[str, Mapping[str, Any], Sequence[str], int], ListPage]
Keyed = tuple[str, Any]  # (key as the shop's local date text, raw row)


def iter_keyset(
    fetch: Fetch,
    path: str,
    filters: Mapping[str, Any],
    *,
    key: str,
    id_field: str,
    key_of: Callable[[Any], str | None],
) -> Iterator[list[Keyed]]:
    """Pages of `(key, row)` in ascending `(key, id)` order; `filters[key]` must hold `>=`."""
    bound: dict[str, Any] = dict(filters[key])
    lower: str = bound[">="]
    order = (f"{key} asc", f"{id_field} asc")
    page = 1
    seen: set[tuple[str, str]] = set()
    while True:
        answer = fetch(path, {**filters, key: {**bound, ">=": lower}}, order, page)
        rows = [(key_of(row) or "", row) for row in answer.rows]
        fresh = [(k, row) for k, row in rows if (k, _id(row, id_field)) not in seen]
        if page > 1 and rows and not fresh:
            raise ShopError(f"shoper GET {path}: page {page} repeats rows already read in this "
                            "run; the shop keeps returning the same page")
        seen.update((k, _id(row, id_field)) for k, row in rows)
        if fresh:
            yield fresh
        if not rows or page >= answer.pages:
            return
        next_lower = rows[-1][0]
        if not next_lower or next_lower <= lower:
            page += 1  # the whole page shares the bound's key: page on within it
        else:
            lower, page = next_lower, 1
            seen = {entry for entry in seen if entry[0] >= lower}


def iter_by_id(
    fetch: Fetch, path: str, filters: Mapping[str, Any], *, id_field: str
) -> Iterator[list[Any]]:
    """Pages of rows in ascending id order, moving `id > last` after each page."""
    last = 0
    while True:
        answer = fetch(path, {**filters, id_field: {">": last}}, (f"{id_field} asc",), 1)
        if not answer.rows:
            return
        ids = [_numeric_id(row, id_field) for row in answer.rows]
        if ids[-1] <= last:
            raise ShopError(f"shoper GET {path}: {id_field} did not advance past {last}; "
                            "the shop ignores the filter")
        yield answer.rows
        if answer.pages <= 1:
            return
        last = ids[-1]


def merge_by_key(streams: Sequence[Iterator[list[Keyed]]]) -> Iterator[list[Keyed]]:
    """Merge ascending streams of `(key, row)` pages into ascending batches.

    Always reads on from the stream that is furthest behind, and emits buffered rows whose key
    is below the lowest key any unfinished stream has reached (everything once all are done).
    """
    heads: list[str | None] = [None] * len(streams)  # last key read per stream; None = unread
    done = [False] * len(streams)
    buffer: list[Keyed] = []
    while not all(done):
        behind = min((i for i in range(len(streams)) if not done[i]),
                     key=lambda i: (heads[i] is not None, heads[i] or ""))
        page = next(streams[behind], None)
        if page is None:
            done[behind] = True
        else:
            buffer.extend(page)
            heads[behind] = page[-1][0]
        open_heads = [heads[i] or "" for i in range(len(streams)) if not done[i]]
        horizon = min(open_heads) if open_heads else None
        ready = [entry for entry in buffer if horizon is None or entry[0] < horizon]
        if ready:
            buffer = [entry for entry in buffer if not (horizon is None or entry[0] < horizon)]
            yield sorted(ready, key=lambda entry: entry[0])


def _id(row: Any, id_field: str) -> str:
    return str(row.get(id_field, "")) if isinstance(row, Mapping) else repr(row)[:40]


def _numeric_id(row: Any, id_field: str) -> int:
    value = str(row.get(id_field, "")).strip() if isinstance(row, Mapping) else ""
    if not value.isdigit():
        raise ShopError(f"shoper: a row without a numeric {id_field}: {value!r:.40}")
    return int(value)
