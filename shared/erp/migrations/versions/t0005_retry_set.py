"""the retry set, and the reconciliation's count in the run record

Revision ID: t0005
Revises: t0004

An item an import could not take used to be an item error and nothing more: the cursor moved
past it and no run read it again (issue "No order left behind"). `sync_retry_items` keeps every
such item until a run imports it; `sync_runs.reconciled_count` counts the orders the daily
reconciliation found missing (0 in a healthy system).
"""

import sqlalchemy as sa

from shared.ddl import add_column, create_index, create_table

revision = "t0005"
down_revision = "t0004"


def upgrade() -> None:
    create_table(
        "sync_retry_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("integration_id", sa.Integer, nullable=False),
        sa.Column("operation", sa.String(30), nullable=False),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("item", sa.String(100), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("first_failed_at", sa.DateTime, nullable=False),
        sa.Column("last_failed_at", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("integration_id", "operation", "shop_id", name="uq_sync_retry_items"),
    )
    create_index("ix_sync_retry_items_due", "sync_retry_items",
                 ["integration_id", "operation", "next_attempt_at"])
    add_column("sync_runs", sa.Column("reconciled_count", sa.Integer, nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    raise NotImplementedError("sync tables are never dropped automatically")
