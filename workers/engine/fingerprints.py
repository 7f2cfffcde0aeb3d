"""Last-sent fingerprints (sync_sent): unchanged data costs no API call.

Per (integration, kind, erp_id) we keep a stable hash of exactly the fields the shop received.
The next run computes the same hash from the ERP's current data; equal means nothing to send.
Recorded in the same transaction as the binding or the item it belongs to, and only after the
shop accepted the item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, select

from shared.erp.sync_tables import sync_sent
from workers.engine.clock import to_db, utc_now
from workers.engine.dialect import upsert

#: sync_sent kinds.
PRODUCT = "product"
STOCK = "stock"
ORDER_STATUS = "order_status"

#: Bound on `IN (…)` lists: SQL Server allows ~2,100 parameters per statement.
IN_CHUNK = 500


def _canonical(value: Any) -> Any:
    """A JSON-able form that does not depend on how a value was produced (1.50 == 1.5)."""
    if isinstance(value, Decimal):
        normal = value.normalize()
        return format(normal if normal != 0 else Decimal(0), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def fingerprint(fields: Mapping[str, Any]) -> str:
    """sha256 hex (64 chars) of the fields as canonical, key-sorted JSON."""
    payload = orjson.dumps(_canonical(fields), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


def read(
    conn: Connection, integration_id: int, kind: str, erp_ids: Iterable[int]
) -> dict[int, str]:
    ids = list(dict.fromkeys(erp_ids))
    found: dict[int, str] = {}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start:start + IN_CHUNK]
        rows = conn.execute(
            select(sync_sent.c.erp_id, sync_sent.c.fingerprint).where(
                and_(sync_sent.c.integration_id == integration_id, sync_sent.c.kind == kind,
                     sync_sent.c.erp_id.in_(chunk))
            )
        )
        found.update({row.erp_id: row.fingerprint for row in rows})
    return found


def record(conn: Connection, integration_id: int, kind: str, sent: Mapping[int, str]) -> None:
    """Remember what the shop now has, inside the caller's transaction."""
    now = to_db(utc_now())
    upsert(
        conn,
        sync_sent,
        [dict(integration_id=integration_id, kind=kind, erp_id=erp_id, fingerprint=fp,
              sent_at=now) for erp_id, fp in sorted(sent.items())],
        keys=("integration_id", "kind", "erp_id"),
    )


def forget(conn: Connection, integration_id: int, kinds: Iterable[str],
           erp_ids: Iterable[int]) -> None:
    """Drop what the shop last received for these items (it no longer has them), so that the
    next run sends everything to whatever shop item they are bound to next."""
    ids = sorted(set(erp_ids))
    wanted = sorted(set(kinds))
    for start in range(0, len(ids), IN_CHUNK):
        conn.execute(delete(sync_sent).where(
            sync_sent.c.integration_id == integration_id, sync_sent.c.kind.in_(wanted),
            sync_sent.c.erp_id.in_(ids[start:start + IN_CHUNK]),
        ))
