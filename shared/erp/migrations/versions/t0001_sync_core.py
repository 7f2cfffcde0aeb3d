"""sync core: runs, events, cursors, bindings, leases

Revision ID: t0001
Revises:
"""

import sqlalchemy as sa

from shared.ddl import create_index, create_table

revision = "t0001"
down_revision = None


def upgrade() -> None:
    create_table(
        "sync_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("integration_id", sa.Integer, nullable=False),
        sa.Column("operation", sa.String(30), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("full_pass", sa.Boolean, nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        *(
            sa.Column(f"{name}_count", sa.Integer, nullable=False, server_default="0")
            for name in ("read", "created", "updated", "unchanged", "skipped", "failed")
        ),
        sa.Column("cursor_before", sa.String(64), nullable=True),
        sa.Column("cursor_after", sa.String(64), nullable=True),
        sa.Column("worker", sa.String(100), nullable=True),
        sa.Column("lease_token", sa.BigInteger, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    create_index(
        "ix_sync_runs_integration_op_started",
        "sync_runs",
        ["integration_id", "operation", "started_at"],
    )
    create_table(
        "sync_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("integration_id", sa.Integer, nullable=False),
        sa.Column("operation", sa.String(30), nullable=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("item", sa.String(100), nullable=True),
        sa.Column("erp_id", sa.Integer, nullable=True),
        sa.Column("shop_id", sa.String(64), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
    )
    create_table(
        "sync_cursors",
        sa.Column("integration_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("value", sa.DateTime, nullable=True),
        sa.Column("extra", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("integration_id", "name"),
    )
    create_table(
        "sync_bindings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("integration_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("erp_id", sa.Integer, nullable=False),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("shop_ref", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("integration_id", "kind", "erp_id", name="uq_sync_bindings_erp"),
        sa.UniqueConstraint("integration_id", "kind", "shop_id", name="uq_sync_bindings_shop"),
    )
    create_table(
        "sync_leases",
        sa.Column("integration_id", sa.Integer, nullable=False),
        sa.Column("resource", sa.String(30), nullable=False),
        sa.Column("holder", sa.String(100), nullable=True),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("acquired_at", sa.DateTime, nullable=True),
        sa.Column("expires_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("integration_id", "resource"),
    )


def downgrade() -> None:
    raise NotImplementedError("sync tables are never dropped automatically")
