"""tenant registry and schedule

Revision ID: c0001
Revises:
"""

import sqlalchemy as sa

from shared.ddl import create_index, create_table

revision = "c0001"
down_revision = None


def upgrade() -> None:
    create_table(
        "tenants",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("db_url", sa.String(1000), nullable=False),
        sa.Column("db_password", sa.Text, nullable=True),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("event_history", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("settings_read_at", sa.DateTime, nullable=True),
    )
    create_table(
        "schedules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "tenant_id",
            sa.Integer,
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("integration_id", sa.Integer, nullable=False),
        sa.Column("operation", sa.String(30), nullable=False),
        sa.Column("interval_minutes", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("blocked_reason", sa.String(255), nullable=True),
        sa.Column("next_due_at", sa.DateTime, nullable=False),
        sa.Column("queued_at", sa.DateTime, nullable=True),
        sa.Column("running_since", sa.DateTime, nullable=True),
        sa.Column("last_started_at", sa.DateTime, nullable=True),
        sa.Column("last_finished_at", sa.DateTime, nullable=True),
        sa.Column("last_success_at", sa.DateTime, nullable=True),
        sa.Column("last_outcome", sa.String(20), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("tenant_id", "integration_id", "operation", name="uq_schedules_work"),
    )
    create_index("ix_schedules_due", "schedules", ["enabled", "next_due_at"])


def downgrade() -> None:
    raise NotImplementedError("the control database is never downgraded automatically")
