"""per-integration options kept by us (TLS verification opt-out for local test shops)

Revision ID: t0004
Revises: t0003

The ERP's `shop_integrations` has no column for what only the integrator needs to know, and
its tables are never altered; so options live in a table of ours, one row per integration and
option name. A missing row is the default (for `verify-tls`: on).
"""

import sqlalchemy as sa

from shared.ddl import create_table

revision = "t0004"
down_revision = "t0003"


def upgrade() -> None:
    create_table(
        "sync_integration_options",
        sa.Column("integration_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("integration_id", "name"),
    )


def downgrade() -> None:
    raise NotImplementedError("sync tables are never dropped automatically")
