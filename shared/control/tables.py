"""The control database: the tenant registry and the schedule.

The registry replaces the old configurator's list of ERP databases; the schedule holds one row per
tenant x integration x operation and is the single source of "what is due" (periodiq is only the
clock). Times are UTC, stored naive.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

control_metadata = MetaData()

tenants = Table(
    "tenants",
    control_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    # The URL with its password removed; the password lives encrypted beside it.
    Column("db_url", String(1000), nullable=False),
    Column("db_password", Text, nullable=True),
    Column("is_active", Boolean, nullable=False),
    Column("event_history", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # When the tick last copied this tenant's integration settings into the schedule.
    Column("settings_read_at", DateTime, nullable=True),
    # When the tick next reads them: each tenant on its own cadence (c0002).
    Column("settings_due_at", DateTime, nullable=True),
    # When the service last wrote its state into the tenant's sync_service_state (c0005):
    # claimed atomically, so that write happens at most once a minute per tenant.
    Column("state_written_at", DateTime, nullable=True),
    Index("ix_tenants_settings_due", "is_active", "settings_due_at"),
)

schedules = Table(
    "schedules",
    control_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    ),
    Column("integration_id", Integer, nullable=False),
    Column("operation", String(30), nullable=False),
    Column("interval_minutes", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("blocked_reason", String(255), nullable=True),
    Column("next_due_at", DateTime, nullable=False),
    Column("queued_at", DateTime, nullable=True),
    Column("running_since", DateTime, nullable=True),
    Column("last_started_at", DateTime, nullable=True),
    Column("last_finished_at", DateTime, nullable=True),
    Column("last_success_at", DateTime, nullable=True),
    Column("last_outcome", String(20), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    # The due time the queued message stands for; a message carrying another one is stale (c0002).
    Column("queued_due_at", DateTime, nullable=True),
    # Minutes that shift this row's slots off the round grid: a stable per-tenant spread (c0002).
    Column("slot_offset", Integer, nullable=False, default=0, server_default="0"),
    # The end of the first failure of the current streak; cleared by a success (c0003).
    Column("failing_since", DateTime, nullable=True),
    # When the current episode's alert was raised; cleared by a success, so one per episode (c0003).
    Column("alerted_at", DateTime, nullable=True),
    # The tenant's retry set for this operation, as its last run left it (c0004): items kept
    # for retry and needing attention, the first failure of the longest-waiting retry item,
    # and when the "kept too long" alert of the current episode was raised.
    Column("kept_retry", Integer, nullable=False, default=0, server_default="0"),
    Column("kept_attention", Integer, nullable=False, default=0, server_default="0"),
    Column("kept_since", DateTime, nullable=True),
    Column("kept_alerted_at", DateTime, nullable=True),
    UniqueConstraint("tenant_id", "integration_id", "operation", name="uq_schedules_work"),
    # The claim predicate: enabled rows whose due time has come.
    Index("ix_schedules_due", "enabled", "next_due_at"),
)

# Redelivered messages, counted so one that keeps killing workers is parked, not looped (c0002).
message_deliveries = Table(
    "message_deliveries",
    control_metadata,
    Column("message_key", String(80), primary_key=True),  # message id + retry attempt
    Column("message_id", String(64), nullable=False),
    Column("queue_name", String(100), nullable=False),
    Column("actor_name", String(100), nullable=False),
    Column("tenant_id", Integer, nullable=True),
    Column("integration_id", Integer, nullable=True),
    Column("operation", String(30), nullable=True),
    Column("deliveries", Integer, nullable=False),
    Column("first_seen_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
    Column("parked_at", DateTime, nullable=True),
    Index("ix_message_deliveries_parked", "parked_at"),
)

# The service's own events, for what has no tenant database to go into (c0002).
service_events = Table(
    "service_events",
    control_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("level", String(10), nullable=False),  # info | warning | error
    Column("kind", String(30), nullable=False),  # parked | refused
    Column("tenant_id", Integer, nullable=True),
    Column("integration_id", Integer, nullable=True),
    Column("operation", String(30), nullable=True),
    Column("message_id", String(64), nullable=True),
    Column("message", Text, nullable=True),
    Index("ix_service_events_kind_at", "kind", "at"),
)

# Liveness of the tick and of each worker process (c0002).
heartbeats = Table(
    "heartbeats",
    control_metadata,
    Column("component", String(150), primary_key=True),  # "tick", "worker@host:pid"
    Column("kind", String(20), nullable=False),  # tick | worker
    Column("host", String(100), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("started_at", DateTime, nullable=False),
    Column("beat_at", DateTime, nullable=False),
    Column("info", Text, nullable=True),
)

# The web console's accounts (c0005): an operator (tenant_id NULL) sees every tenant, a tenant
# user only their own. `password_hash` is scrypt's (app.console.accounts); `password_changed_at`
# ends every session signed before it.
console_users = Table(
    "console_users",
    control_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column(
        "tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True
    ),
    Column("created_at", DateTime, nullable=False),
    Column("password_changed_at", DateTime, nullable=False),
    Column("last_login_at", DateTime, nullable=True),
)

# Failed console logins per client address and per account name, in fixed windows (c0005),
# kept in the database so every console replica counts the same failures.
console_login_failures = Table(
    "console_login_failures",
    control_metadata,
    Column("key", String(150), primary_key=True),  # "ip:127.0.0.1", "user:alice"
    Column("failures", Integer, nullable=False),
    Column("window_started_at", DateTime, nullable=False),
)
