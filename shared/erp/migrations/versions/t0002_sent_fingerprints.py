"""last-sent fingerprints and event indexes

Revision ID: t0002
Revises: t0001
"""

import sqlalchemy as sa

from shared.ddl import create_index, create_table

revision = "t0002"
down_revision = "t0001"


def upgrade() -> None:
    create_table(
        "sync_sent",
        sa.Column("integration_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("erp_id", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("integration_id", "kind", "erp_id"),
    )
    # `events` lists the newest first per integration and looks up a run's items.
    create_index("ix_sync_events_integration_at", "sync_events", ["integration_id", "at"])
    create_index("ix_sync_events_run", "sync_events", ["run_id"])


def downgrade() -> None:
    raise NotImplementedError("sync tables are never dropped automatically")
