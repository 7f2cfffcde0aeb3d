"""a marketplace seller's OAuth tokens, and the offers we ended for lack of stock

Revision ID: t0006
Revises: t0005

Allegro (issue 16) is reached with a seller's OAuth tokens, obtained once by `iluo-sync
integration-auth` and refreshed by the runs: `sync_oauth_tokens` keeps them, encrypted, next to
the integration they belong to. Allegro cannot hold a quantity of 0, so stock 0 ends an offer;
`sync_ended_offers` remembers which offers we ended, because only those may be activated again
(CONTRACT §2).
"""

import sqlalchemy as sa

from shared.ddl import create_table

revision = "t0006"
down_revision = "t0005"


def upgrade() -> None:
    create_table(
        "sync_oauth_tokens",
        sa.Column("integration_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("access_token", sa.Text, nullable=False),
        sa.Column("refresh_token", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    create_table(
        "sync_ended_offers",
        sa.Column("integration_id", sa.Integer, nullable=False),
        sa.Column("offer_id", sa.String(64), nullable=False),
        sa.Column("ended_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("integration_id", "offer_id"),
    )


def downgrade() -> None:
    raise NotImplementedError("sync tables are never dropped automatically")
