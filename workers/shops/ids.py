"""Shop ids handed to a re-read by id (the retry set, the reconciliation): cleaned and chunked.

Shoper and IdoSell number their orders and products with positive integers; an id that is not
one cannot exist in the shop, so it is left out of the query (the item is then simply absent
from the answer, as the ports promise) instead of making the whole call fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence


def positive_ids(ids: Iterable[str]) -> list[int]:
    """The positive whole numbers among `ids` (ASCII digits only), once each, ascending."""
    found: set[int] = set()
    for value in ids:
        text = str(value).strip()
        if text.isascii() and text.isdigit() and int(text) > 0:
            found.add(int(text))
    return sorted(found)


def chunked(values: Sequence[int], size: int) -> Iterator[list[int]]:
    """`values` in consecutive lists of at most `size` (the platform's per-call limit)."""
    for start in range(0, len(values), size):
        yield list(values[start:start + size])
