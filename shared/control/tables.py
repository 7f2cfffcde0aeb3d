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
    UniqueConstraint("tenant_id", "integration_id", "operation", name="uq_schedules_work"),
    # The claim predicate: enabled rows whose due time has come.
    Index("ix_schedules_due", "enabled", "next_due_at"),
)
