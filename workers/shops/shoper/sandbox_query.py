"""The list query language of the Shoper sandbox: `filters`, `order`, `limit`, `page`.

What Shoper documents and the sandbox enforces (src: dreamcommerce/shop-appstore-lib
`Resource.php`: `filters` is a JSON object, `order` a `"field asc|desc"` string or an array of
them, `limit` 1..50, `page` counted from 1):
- `filters={"field": value}` (equality) or `{"field": {"op": value, …}}` with ops
  `=, !=, <, <=, >, >=, IN, LIKE` (the SDK; Shoper's own OpenAPI shows the JSON form with "="
  in `Order.additional_fields`); several fields and ops combine with AND. The PHP-array form
  `filters[field]=value` (equality) is accepted too (live: `GET users?filters[email]=…`).
  The OpenAPI's per-field docs name the ops `eq, gt, gte, lt, lte, in, not_in, like,
  not_like`: accepted as the same operators. Which spellings a live shop takes is
  **unverified**: `dialect="both"` (default) takes either, without regard to case;
  `"symbols"` only the SDK's; `"names"` only the OpenAPI's, case-sensitive (so "IN" is unknown).
  An unknown field is a 400; an unknown op is a 400 by default, or silently dropped with
  `unknown_ops="ignore"` — the reading under which a connector must notice a filter the shop
  did not apply.
- comparisons follow MySQL: numbers as numbers (Shoper sends them as strings), everything else
  as text without regard to case (a `_ci` collation), `LIKE` with `%` and `_`.
- `order` sorts by the named fields; ties keep ascending primary-key order (what MySQL usually
  does — the real tie-break is unverified, so connectors must name their own tie-breaker).
- `limit` above 50: **unverified** on a live shop (the SDK refuses it client-side). By default
  the sandbox answers 400 `invalid_request`, which makes a connector bug loud;
  `over_limit="clamp"` serves 50 rows instead. `page` < 1 or a non-number is a 400; a page past
  the end is an empty `list`.
- the answer is `{"count": "<n as string>", "pages": n, "page": n, "list": […]}` plus the
  `X-Shop-Result-Count/-Page/-Pages` headers the SDK falls back to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

MAX_LIMIT = 50
DEFAULT_LIMIT = 10  # what a list answers without `limit` (unverified)
OPERATORS = frozenset({"=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "not like"})
#: The OpenAPI's names for the same operators.
OPERATOR_NAMES = {"eq": "=", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=",
                  "in": "in", "not_in": "not in", "like": "like", "not_like": "not like"}
DIALECTS = ("both", "symbols", "names")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


class QueryError(ValueError):
    """A 400 `invalid_request` with a Polish description, as Shoper words them."""


Json = dict[str, Any]


def parse_filters(
    query: Sequence[tuple[str, str]], fields: set[str], *, unknown_ops: str = "error",
    dialect: str = "both",
) -> dict[str, dict[str, Any]]:
    """The request's filters as {field: {op: value}} (ops lower-case, names resolved)."""
    found: dict[str, dict[str, Any]] = {}
    for name, raw in query:
        if name == "filters":
            try:
                decoded = orjson.loads(raw) if raw.strip() else {}
            except orjson.JSONDecodeError:
                raise QueryError("Wartość pola 'filters' jest niepoprawna: "
                                 "oczekiwano obiektu JSON") from None
            if not isinstance(decoded, Mapping):
                raise QueryError("Wartość pola 'filters' jest niepoprawna: "
                                 "oczekiwano obiektu JSON")
            for field, spec in decoded.items():
                ops = dict(spec) if isinstance(spec, Mapping) else {"=": spec}
                found.setdefault(str(field), {}).update(
                    {_operator(str(k), dialect): v for k, v in ops.items()})
        elif name.startswith("filters[") and name.endswith("]"):
            found.setdefault(name[len("filters["):-1], {})["="] = raw
    for field, ops in found.items():
        if field not in fields:
            raise QueryError(f"Wartość pola 'filters' jest niepoprawna: nieznane pole '{field}'")
        for op in [op for op in ops if op not in OPERATORS]:
            if unknown_ops != "ignore":
                raise QueryError(f"Wartość pola 'filters' jest niepoprawna: "
                                 f"nieznany operator '{op.removeprefix('?')}'")
            del ops[op]
        for op, value in ops.items():
            if op in ("in", "not in") and not isinstance(value, list):
                raise QueryError(f"Wartość pola 'filters' jest niepoprawna: "
                                 f"IN dla '{field}' wymaga tablicy")
    return found


def _operator(name: str, dialect: str) -> str:
    """The canonical operator for a spelling this dialect knows, else the spelling marked
    unknown (`?` prefix; never a canonical name)."""
    if dialect == "names":
        return OPERATOR_NAMES.get(name, f"?{name}")
    op = " ".join(name.lower().split())
    if op in OPERATORS:
        return op
    return OPERATOR_NAMES.get(op, f"?{name}") if dialect == "both" else f"?{name}"


def matches(row: Mapping[str, Any], filters: Mapping[str, Mapping[str, Any]]) -> bool:
    for field, ops in filters.items():
        value = row.get(field)
        for op, wanted in ops.items():
            if not _test(value, op, wanted):
                return False
    return True


def _test(value: Any, op: str, wanted: Any) -> bool:
    if op in ("in", "not in"):
        return any(_compare(value, item) == 0 for item in wanted) == (op == "in")
    if op in ("like", "not like"):
        pattern = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
                          for ch in str(wanted))
        found = re.fullmatch(pattern, _text(value), re.IGNORECASE | re.DOTALL) is not None
        return found == (op == "like")
    order = _compare(value, wanted)
    if order is None:  # NULL compares to nothing, as in SQL
        return False
    return {"=": order == 0, "!=": order != 0, "<": order < 0, "<=": order <= 0,
            ">": order > 0, ">=": order >= 0}[op]


def _compare(value: Any, wanted: Any) -> int | None:
    if value is None or wanted is None:
        return None
    left, right = sort_key(value), sort_key(wanted)
    if type(left[1]) is not type(right[1]):
        left, right = (0, _text(value)), (0, _text(wanted))
    return (left > right) - (left < right)


def sort_key(value: Any) -> tuple[int, Any]:
    """Numbers (also numeric strings, booleans) by value, dates and text by lower-cased text."""
    if isinstance(value, bool):
        return (1, Decimal(int(value)))
    if isinstance(value, int | float):
        return (1, Decimal(str(value)))
    text = _text(value)
    if not _DATE.match(text):
        try:
            return (1, Decimal(text))
        except InvalidOperation:
            pass
    return (0, text.lower())


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def parse_order(query: Sequence[tuple[str, str]], fields: set[str]) -> list[tuple[str, bool]]:
    """`order=field asc`, `order[]=…`, `order[0]=…` or a JSON array → [(field, descending)]."""
    clauses: list[str] = []
    for name, raw in query:
        if name == "order":
            if raw.strip().startswith("["):
                try:
                    clauses.extend(str(c) for c in orjson.loads(raw))
                except orjson.JSONDecodeError:
                    raise QueryError("Wartość pola 'order' jest niepoprawna") from None
            else:
                clauses.append(raw)
        elif re.fullmatch(r"order\[\d*\]", name):
            clauses.append(raw)
    parsed = []
    for clause in clauses:
        words = clause.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower()
                                            not in ("asc", "desc")):
            raise QueryError(f"Wartość pola 'order' jest niepoprawna: '{clause}'")
        if words[0] not in fields:
            raise QueryError(f"Wartość pola 'order' jest niepoprawna: nieznane pole '{words[0]}'")
        parsed.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return parsed


def sorted_rows(rows: list[Json], order: list[tuple[str, bool]], id_field: str) -> list[Json]:
    result = sorted(rows, key=lambda row: sort_key(row.get(id_field)))
    for field, descending in reversed(order):  # stable sorts, last key first
        result.sort(key=lambda row: _null_last(row.get(field)), reverse=descending)
    return result


def _null_last(value: Any) -> tuple[int, tuple[int, Any]]:
    return (0, (0, "")) if value is None else (1, sort_key(value))


def paging(query: Mapping[str, str], *, over_limit: str) -> tuple[int, int]:
    """(limit, page) from the query, validated."""
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
        page = int(query.get("page", 1))
    except ValueError:
        raise QueryError("Wartość pola 'limit' lub 'page' jest niepoprawna") from None
    if limit < 1:
        raise QueryError("Wartość pola 'limit' jest niepoprawna: minimum to 1")
    if limit > MAX_LIMIT:
        if over_limit != "clamp":
            raise QueryError(f"Wartość pola 'limit' jest niepoprawna: maksimum to {MAX_LIMIT}")
        limit = MAX_LIMIT
    if page < 1:
        raise QueryError("Wartość pola 'page' jest niepoprawna: minimum to 1")
    return limit, page


def list_answer(rows: list[Json], limit: int, page: int) -> tuple[Json, list[tuple[str, str]]]:
    pages = math.ceil(len(rows) / limit)
    body = {"count": str(len(rows)), "pages": pages, "page": page,
            "list": rows[(page - 1) * limit:page * limit]}
    headers = [("X-Shop-Result-Count", str(len(rows))), ("X-Shop-Result-Page", str(page)),
               ("X-Shop-Result-Pages", str(pages))]
    return body, headers
