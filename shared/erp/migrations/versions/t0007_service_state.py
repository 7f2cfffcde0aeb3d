"""the service's state where the ERP can read it

Revision ID: t0007
Revises: t0006

ILUO Biznes paints the synchroniser green or red (MISSION item 7) from one SELECT on this
table: the row (0, 'service') holds the service's version, state (running / stopped) and
heartbeat; one row per integration and operation holds its last run, outcome and next due
time. Written by the service (shared.control.service_state), at most once a minute.
"""

import sqlalchemy as sa

from shared.ddl import create_table

revision = "t0007"
down_revision = "t0006"


def upgrade() -> None:
    create_table(
        "sync_service_state",
        sa.Column("integration_id", sa.Integer, nullable=False),
        sa.Column("operation", sa.String(30), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("service_version", sa.String(30), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime, nullable=True),
        sa.Column("last_run_at", sa.DateTime, nullable=True),
        sa.Column("last_outcome", sa.String(20), nullable=True),
        sa.Column("next_due_at", sa.DateTime, nullable=True),
        sa.Column("failures_in_row", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("integration_id", "operation"),
    )


def downgrade() -> None:
    raise NotImplementedError("sync tables are never dropped automatically")
