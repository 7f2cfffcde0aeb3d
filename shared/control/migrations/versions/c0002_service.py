"""the service runs itself: claim bookkeeping, refresh cadence, delivery counts, heartbeats

Revision ID: c0002
Revises: c0001
"""

import sqlalchemy as sa

from shared.ddl import add_column, create_index, create_table

revision = "c0002"
down_revision = "c0001"


def upgrade() -> None:
    # The due time a queued message stands for (a stale duplicate carries another one), and the
    # minute offset that spreads one tenant's slots away from every other tenant's.
    add_column("schedules", sa.Column("queued_due_at", sa.DateTime, nullable=True))
    add_column(
        "schedules", sa.Column("slot_offset", sa.Integer, nullable=False, server_default="0")
    )
    # When the tick next reads this tenant's integration settings (its own cadence).
    add_column("tenants", sa.Column("settings_due_at", sa.DateTime, nullable=True))
    create_index("ix_tenants_settings_due", "tenants", ["is_active", "settings_due_at"])

    # Deliveries of a message that were redelivered (a worker died holding it); a row with
    # parked_at set is a message taken out of circulation.
    create_table(
        "message_deliveries",
        sa.Column("message_key", sa.String(80), primary_key=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("queue_name", sa.String(100), nullable=False),
        sa.Column("actor_name", sa.String(100), nullable=False),
        sa.Column("tenant_id", sa.Integer, nullable=True),
        sa.Column("integration_id", sa.Integer, nullable=True),
        sa.Column("operation", sa.String(30), nullable=True),
        sa.Column("deliveries", sa.Integer, nullable=False),
        sa.Column("first_seen_at", sa.DateTime, nullable=False),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
        sa.Column("parked_at", sa.DateTime, nullable=True),
    )
    create_index("ix_message_deliveries_parked", "message_deliveries", ["parked_at"])

    # What the service itself did that has no tenant database to go into (a parked message, a
    # refused one for a tenant that is gone).
    create_table(
        "service_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("tenant_id", sa.Integer, nullable=True),
        sa.Column("integration_id", sa.Integer, nullable=True),
        sa.Column("operation", sa.String(30), nullable=True),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
    )
    create_index("ix_service_events_kind_at", "service_events", ["kind", "at"])

    # Liveness of the tick and of each worker process, for `status`.
    create_table(
        "heartbeats",
        sa.Column("component", sa.String(150), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("host", sa.String(100), nullable=True),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("beat_at", sa.DateTime, nullable=False),
        sa.Column("info", sa.Text, nullable=True),
    )


def downgrade() -> None:
    raise NotImplementedError("the control database is never downgraded automatically")
