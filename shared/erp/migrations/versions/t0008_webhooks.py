"""shop webhooks: one receiver URL per integration

Revision ID: t0008
Revises: t0007

A shop calls `/hooks/<token>` when an order is created or changes (app.webhooks). The row
keeps the token's SHA-256 (the URL itself is a secret: a database reader must not be able to
call it), the shop-side signing secret encrypted with the registry's key (the shops' APIs never
return it, and `webhooks check` puts it again), the shop's webhook ids and the last state seen.
"""

import sqlalchemy as sa

from shared.ddl import create_table

revision = "t0008"
down_revision = "t0007"


def upgrade() -> None:
    create_table(
        "sync_webhooks",
        sa.Column("integration_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("public_url", sa.String(500), nullable=True),
        sa.Column("shop_webhook_ids", sa.String(255), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("last_received_at", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("sync tables are never dropped automatically")
