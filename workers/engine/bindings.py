"""The binder: ERP id ↔ shop id per integration (sync_bindings).

Both directions are unique keys, so two runs (or a retry after a lost answer) can never bind one
ERP product to two shop products or the other way round. Binding is insert-or-skip: the database
decides, and a skipped insert is then explained by reading what is there.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, and_, delete, or_, select

from shared.erp.sync_tables import sync_bindings
from workers.engine.clock import to_db, utc_now
from workers.engine.dialect import insert_many_or_skip, insert_or_skip
from workers.engine.fingerprints import IN_CHUNK

PRODUCT = "product"


class Bound(str, enum.Enum):
    NEW = "new"  # this call created the binding
    SAME = "same"  # it already existed, identical
    CONFLICT = "conflict"  # the ERP id or the shop id is bound to something else


def bind(conn: Connection, integration_id: int, kind: str, erp_id: int, shop_id: str) -> Bound:
    row = dict(integration_id=integration_id, kind=kind, erp_id=erp_id, shop_id=shop_id,
               created_at=to_db(utc_now()))
    # Two unique keys: skip on a clash with either (conflict=None), then say which it was.
    if insert_or_skip(conn, sync_bindings, row, conflict=None):
        return Bound.NEW
    existing = conn.execute(
        select(sync_bindings.c.erp_id, sync_bindings.c.shop_id).where(
            sync_bindings.c.integration_id == integration_id,
            sync_bindings.c.kind == kind,
            or_(sync_bindings.c.erp_id == erp_id, sync_bindings.c.shop_id == shop_id),
        )
    ).all()
    if len(existing) == 1 and (existing[0].erp_id, existing[0].shop_id) == (erp_id, shop_id):
        return Bound.SAME
    return Bound.CONFLICT



def bind_many(
    conn: Connection, integration_id: int, kind: str, pairs: Sequence[tuple[int, str]]
) -> list[tuple[int, str]]:
    """Bind many (erp_id, shop_id) pairs at once; answers the pairs that clash with an
    existing binding (and so were not bound). One insert-or-skip, one read to check."""
    if not pairs:
        return []
    now = to_db(utc_now())
    insert_many_or_skip(conn, sync_bindings, [
        dict(integration_id=integration_id, kind=kind, erp_id=erp_id, shop_id=shop_id,
             created_at=now) for erp_id, shop_id in pairs
    ], conflict=None)
    bound = shop_ids(conn, integration_id, kind, [erp_id for erp_id, _ in pairs])
    return [(erp_id, shop_id) for erp_id, shop_id in pairs if bound.get(erp_id) != shop_id]


def shop_ids(
    conn: Connection, integration_id: int, kind: str, erp_ids: Iterable[int]
) -> dict[int, str]:
    ids = list(dict.fromkeys(erp_ids))
    found: dict[int, str] = {}
    for start in range(0, len(ids), IN_CHUNK):
        rows = conn.execute(
            select(sync_bindings.c.erp_id, sync_bindings.c.shop_id).where(
                and_(sync_bindings.c.integration_id == integration_id,
                     sync_bindings.c.kind == kind,
                     sync_bindings.c.erp_id.in_(ids[start:start + IN_CHUNK]))
            )
        )
        found.update({row.erp_id: row.shop_id for row in rows})
    return found


def unbind(conn: Connection, integration_id: int, kind: str, erp_id: int) -> None:
    conn.execute(delete(sync_bindings).where(
        sync_bindings.c.integration_id == integration_id, sync_bindings.c.kind == kind,
        sync_bindings.c.erp_id == erp_id,
    ))


def drop_gone(
    conn: Connection, integration_id: int, kind: str, pairs: Sequence[tuple[int, str]]
) -> list[int]:
    """Drop the bindings to shop items the shop no longer has; answers the ERP ids unbound.

    Only a binding that still names the gone shop id is dropped: a concurrent run of another
    operation may have bound the ERP item anew in the meantime, and that binding stays.
    """
    b = sync_bindings.c
    dropped: list[int] = []
    for erp_id, shop_id in pairs:
        deleted = conn.execute(delete(sync_bindings).where(
            b.integration_id == integration_id, b.kind == kind, b.erp_id == erp_id,
            b.shop_id == shop_id,
        )).rowcount
        if deleted:
            dropped.append(erp_id)
    return dropped
