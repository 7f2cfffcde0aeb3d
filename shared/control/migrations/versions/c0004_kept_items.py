"""the retry set's summary on the schedule row, and its alert

Revision ID: c0004
Revises: c0003

Each tenant's retry set lives in its own database (sync_retry_items); the worker copies a
summary of it to the import operations' schedule rows after every run, so `status` and the
tick's alert check read one control table instead of thousands of tenant databases.
"""

import sqlalchemy as sa

from shared.ddl import add_column

revision = "c0004"
down_revision = "c0003"


def upgrade() -> None:
    add_column("schedules", sa.Column("kept_retry", sa.Integer, nullable=False,
                                      server_default="0"))
    add_column("schedules", sa.Column("kept_attention", sa.Integer, nullable=False,
                                      server_default="0"))
    # The first failure of the longest-waiting item kept for retry (None: none waits).
    add_column("schedules", sa.Column("kept_since", sa.DateTime, nullable=True))
    # When this episode's "items kept too long" alert was raised; cleared when none waits.
    add_column("schedules", sa.Column("kept_alerted_at", sa.DateTime, nullable=True))


def downgrade() -> None:
    raise NotImplementedError("the control database is never downgraded automatically")
