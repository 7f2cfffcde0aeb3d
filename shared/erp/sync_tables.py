"""The integrator's own tables in the tenant database (all named `sync_*`).

They live next to the ERP data they describe so that an imported order and the record of its
import commit in one transaction, and so the ERP's backup holds them. They are created and
upgraded only by the migrations in `shared/erp/migrations`; this module describes their current
shape for queries. Times are UTC, stored naive, like the ERP's.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

sync_metadata = MetaData()

# One row per run of one operation of one integration: the event history's backbone.
sync_runs = Table(
    "sync_runs",
    sync_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, nullable=False),
    Column("operation", String(30), nullable=False),
    Column("trigger", String(20), nullable=False),  # schedule | manual
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    # running | ok | partial | failed | skipped | abandoned
    Column("outcome", String(20), nullable=False),
    Column("full_pass", Boolean, nullable=False, default=False),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("read_count", Integer, nullable=False, default=0),
    Column("created_count", Integer, nullable=False, default=0),
    Column("updated_count", Integer, nullable=False, default=0),
    Column("unchanged_count", Integer, nullable=False, default=0),
    Column("skipped_count", Integer, nullable=False, default=0),
    Column("failed_count", Integer, nullable=False, default=0),
    # Orders the daily reconciliation found missing and imported (t0005): 0 in a healthy system.
    Column("reconciled_count", Integer, nullable=False, default=0, server_default="0"),
    Column("cursor_before", String(64), nullable=True),
    Column("cursor_after", String(64), nullable=True),
    Column("worker", String(100), nullable=True),
    Column("lease_token", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_sync_runs_integration_op_started", "integration_id", "operation", "started_at"),
)

# Per-item events of a run (and run-less events such as configuration errors and alerts).
sync_events = Table(
    "sync_events",
    sync_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=True),
    Column("integration_id", Integer, nullable=False),
    Column("operation", String(30), nullable=True),
    Column("at", DateTime, nullable=False),
    Column("level", String(10), nullable=False),  # info | warning | error
    Column("kind", String(30), nullable=False),  # created | updated | item_error | config_error ...
    Column("item", String(100), nullable=True),  # SKU or the shop's order id
    Column("erp_id", Integer, nullable=True),
    Column("shop_id", String(64), nullable=True),
    Column("message", Text, nullable=True),
    Index("ix_sync_events_integration_at", "integration_id", "at"),
    Index("ix_sync_events_run", "run_id"),
    Index("ix_sync_events_level_at", "level", "at"),  # `events --errors` (migration t0003)
)

# Watermarks: where the next incremental read starts. Moved only after the items are committed.
sync_cursors = Table(
    "sync_cursors",
    sync_metadata,
    Column("integration_id", Integer, nullable=False),
    Column("name", String(40), nullable=False),
    Column("value", DateTime, nullable=True),
    Column("extra", Text, nullable=True),
    Column("updated_at", DateTime, nullable=False),
    PrimaryKeyConstraint("integration_id", "name"),
)

# ERP id <-> shop id. Both directions unique, so a race can never bind twice.
sync_bindings = Table(
    "sync_bindings",
    sync_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, nullable=False),
    Column("kind", String(20), nullable=False),  # product
    Column("erp_id", Integer, nullable=False),
    Column("shop_id", String(64), nullable=False),
    Column("shop_ref", String(64), nullable=True),  # a platform sub-id (stock row, variant)
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("integration_id", "kind", "erp_id", name="uq_sync_bindings_erp"),
    UniqueConstraint("integration_id", "kind", "shop_id", name="uq_sync_bindings_shop"),
)

# What the shop last received, so unchanged data costs no API call.
sync_sent = Table(
    "sync_sent",
    sync_metadata,
    Column("integration_id", Integer, nullable=False),
    Column("kind", String(20), nullable=False),  # product | stock | order_status
    Column("erp_id", Integer, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("sent_at", DateTime, nullable=False),
    PrimaryKeyConstraint("integration_id", "kind", "erp_id"),
)

# Mutual exclusion per (integration, resource): expiry so a killed worker never blocks anything,
# and a fencing token that grows on every acquisition so a stale holder can be told apart.
sync_leases = Table(
    "sync_leases",
    sync_metadata,
    Column("integration_id", Integer, nullable=False),
    Column("resource", String(30), nullable=False),
    Column("holder", String(100), nullable=True),
    Column("token", BigInteger, nullable=False, default=0),
    Column("acquired_at", DateTime, nullable=True),
    Column("expires_at", DateTime, nullable=True),
    PrimaryKeyConstraint("integration_id", "resource"),
)

# Options of an integration that only the integrator knows about (the ERP's table is never
# altered), e.g. `verify-tls` = `off` for a local test shop. No row = the default (t0004).
sync_integration_options = Table(
    "sync_integration_options",
    sync_metadata,
    Column("integration_id", Integer, nullable=False),
    Column("name", String(50), nullable=False),
    Column("value", String(255), nullable=False),
    Column("updated_at", DateTime, nullable=False),
    PrimaryKeyConstraint("integration_id", "name"),
)

# The retry set (t0005): every shop item an import could not take, until a run imports it.
# The cursor may move past a failed item because this row, written in the same transaction,
# carries it from then on (DESIGN rule 8). `state` is `retry` (re-read by id with backoff) or
# `attention` (the shop's data cannot be held as it is; re-checked daily, pages nobody).
sync_retry_items = Table(
    "sync_retry_items",
    sync_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, nullable=False),
    Column("operation", String(30), nullable=False),  # import_orders | import_products
    Column("shop_id", String(64), nullable=False),
    Column("item", String(100), nullable=True),  # what a person recognises: number, SKU
    Column("state", String(20), nullable=False),
    Column("first_failed_at", DateTime, nullable=False),
    Column("last_failed_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", DateTime, nullable=False),
    UniqueConstraint("integration_id", "operation", "shop_id", name="uq_sync_retry_items"),
    Index("ix_sync_retry_items_due", "integration_id", "operation", "next_attempt_at"),
)

# A marketplace seller's OAuth tokens (t0006), one row per integration, both tokens encrypted
# with the registry's key (shared.crypto). `version` grows with every save, so two runs that
# refresh at once cannot overwrite each other's newer pair (compare-and-swap on it).
sync_oauth_tokens = Table(
    "sync_oauth_tokens",
    sync_metadata,
    Column("integration_id", Integer, primary_key=True, autoincrement=False),
    Column("access_token", Text, nullable=False),
    Column("refresh_token", Text, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Offers the integrator ended because stock ran out (t0006): only these are activated again
# when stock returns; an offer the seller ended is never touched (CONTRACT §2, Allegro stock).
sync_ended_offers = Table(
    "sync_ended_offers",
    sync_metadata,
    Column("integration_id", Integer, nullable=False),
    Column("offer_id", String(64), nullable=False),
    Column("ended_at", DateTime, nullable=False),
    PrimaryKeyConstraint("integration_id", "offer_id"),
)

# The service's state for the ERP to read (t0007): row (0, 'service') is the service itself
# (state running | stopped, version, heartbeat); one row per integration and operation holds
# its schedule (state scheduled | off | blocked), last run, outcome and next due time.
sync_service_state = Table(
    "sync_service_state",
    sync_metadata,
    Column("integration_id", Integer, nullable=False),
    Column("operation", String(30), nullable=False),
    Column("state", String(20), nullable=False),
    Column("service_version", String(30), nullable=True),
    Column("heartbeat_at", DateTime, nullable=True),
    Column("last_run_at", DateTime, nullable=True),
    Column("last_outcome", String(20), nullable=True),
    Column("next_due_at", DateTime, nullable=True),
    Column("failures_in_row", Integer, nullable=False, default=0, server_default="0"),
    Column("updated_at", DateTime, nullable=False),
    PrimaryKeyConstraint("integration_id", "operation"),
)

# Shop webhooks (t0008), one row per integration: the receiver's token (its SHA-256 only), the
# shop-side signing secret (encrypted with the registry's key), the shop's webhook ids, state.
sync_webhooks = Table(
    "sync_webhooks",
    sync_metadata,
    Column("integration_id", Integer, primary_key=True, autoincrement=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("secret", Text, nullable=False),
    Column("public_url", String(500), nullable=True),
    Column("shop_webhook_ids", String(255), nullable=True),
    Column("state", String(20), nullable=False),  # created | registered | disabled
    Column("last_received_at", DateTime, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

SYNC_TABLES: tuple[str, ...] = tuple(sync_metadata.tables)
