"""The webhook rows in the tenant database (`sync_webhooks`, t0008).

A receiver URL is `/hooks/<tenant id>.<random>`: the tenant id says which ERP database holds the
row (the receiver never scans every tenant), the random part is the secret. Only the token's
SHA-256 is stored; the shop-side signing secret is stored encrypted with the registry's key,
because the receiver needs it in the clear to check signatures.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from shared.crypto import SecretBox
from shared.erp.sync_tables import sync_webhooks

TOKEN = re.compile(r"^(\d{1,9})\.([A-Za-z0-9_-]{32,64})$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tenant_of_token(token: str) -> int | None:
    """The tenant id a well-formed token names, None for anything else (answered 404)."""
    found = TOKEN.match(token)
    return int(found.group(1)) if found else None


@dataclass(frozen=True, slots=True)
class Hook:
    integration_id: int
    secret: str
    state: str
    public_url: str | None
    shop_webhook_ids: str | None


def create(conn: Connection, box: SecretBox, tenant_id: int, integration_id: int,
           now: datetime, *, public_url: str | None = None) -> tuple[str, str]:
    """A new token and signing secret for the integration (replacing any old pair, so the old
    URL stops working at once). Returns (token, secret)."""
    token = f"{tenant_id}.{secrets.token_urlsafe(32)}"
    secret = secrets.token_urlsafe(32)  # URL-safe: WooCommerce decodes HTML entities in it
    values = {"token_hash": token_hash(token), "secret": box.encrypt(secret),
              "public_url": public_url, "state": "created", "updated_at": now}
    w = sync_webhooks.c
    if conn.execute(select(w.integration_id).where(w.integration_id == integration_id)).first():
        conn.execute(update(sync_webhooks).where(w.integration_id == integration_id)
                     .values(shop_webhook_ids=None, **values))
    else:
        conn.execute(insert(sync_webhooks).values(integration_id=integration_id,
                                                  created_at=now, **values))
    return token, secret


def snapshot(conn: Connection, integration_id: int) -> RowMapping | None:
    """The integration's row as stored (for `restore` when a registration is undone)."""
    w = sync_webhooks.c
    row = conn.execute(select(sync_webhooks).where(w.integration_id == integration_id)).first()
    return None if row is None else row._mapping


def restore(conn: Connection, integration_id: int, before: RowMapping | None) -> None:
    """Put the row back as `snapshot` read it (no row: none)."""
    where = sync_webhooks.c.integration_id == integration_id
    if before is None:
        conn.execute(delete(sync_webhooks).where(where))
    else:
        conn.execute(update(sync_webhooks).where(where).values(
            {k: v for k, v in before.items() if k != "integration_id"}))


def find(conn: Connection, box: SecretBox, token: str) -> Hook | None:
    w = sync_webhooks.c
    row = conn.execute(select(sync_webhooks).where(w.token_hash == token_hash(token))).first()
    return None if row is None else _hook(row, box)


def of_integration(conn: Connection, box: SecretBox, integration_id: int) -> Hook | None:
    w = sync_webhooks.c
    row = conn.execute(select(sync_webhooks).where(w.integration_id == integration_id)).first()
    return None if row is None else _hook(row, box)


@dataclass(frozen=True, slots=True)
class State:
    """What `integrations` and the console show of an integration's webhooks."""

    state: str  # created | registered | disabled | missing (see `webhooks check`)
    last_received_at: datetime | None  # the last valid hook (written at most every few s)
    updated_at: datetime  # when register/check last spoke to the shop about them


def states(conn: Connection) -> dict[int, State]:
    """Each integration's webhook state, for `integrations` and the console."""
    w = sync_webhooks.c
    return {row.integration_id: State(row.state, row.last_received_at, row.updated_at)
            for row in conn.execute(select(w.integration_id, w.state, w.last_received_at,
                                           w.updated_at))}


def touch(conn: Connection, integration_id: int, now: datetime) -> None:
    """Record that a valid hook came (the receiver calls it at most once per TOUCH_EVERY)."""
    conn.execute(update(sync_webhooks).where(sync_webhooks.c.integration_id == integration_id)
                 .values(last_received_at=now))


def set_state(conn: Connection, integration_id: int, now: datetime, *, state: str,
              shop_webhook_ids: str | None = None, public_url: str | None = None) -> None:
    values: dict[str, object] = {"state": state, "updated_at": now}
    if shop_webhook_ids is not None:
        values["shop_webhook_ids"] = shop_webhook_ids
    if public_url is not None:
        values["public_url"] = public_url
    conn.execute(update(sync_webhooks).where(sync_webhooks.c.integration_id == integration_id)
                 .values(**values))


def _hook(row: object, box: SecretBox) -> Hook:
    r = row._mapping  # type: ignore[attr-defined]
    return Hook(r["integration_id"], box.decrypt(r["secret"]), r["state"], r["public_url"],
                r["shop_webhook_ids"])
