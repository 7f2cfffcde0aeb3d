"""the web console's accounts and login throttle; when the service state was last written

Revision ID: c0005
Revises: c0004

`console_users`: who may log in to `iluo-sync console` (an operator, or a user of one tenant).
`console_login_failures`: failed logins per address and per name, so guessing is rate-limited
across every console replica. `tenants.state_written_at`: the claim that keeps the tenant's
`sync_service_state` write to at most one a minute.
"""

import sqlalchemy as sa

from shared.ddl import add_column, create_table

revision = "c0005"
down_revision = "c0004"


def upgrade() -> None:
    add_column("tenants", sa.Column("state_written_at", sa.DateTime, nullable=True))
    create_table(
        "console_users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("password_changed_at", sa.DateTime, nullable=False),
        sa.Column("last_login_at", sa.DateTime, nullable=True),
    )
    create_table(
        "console_login_failures",
        sa.Column("key", sa.String(150), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_started_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the control database is never downgraded automatically")
