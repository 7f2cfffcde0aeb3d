"""operating it: since when an operation fails, and whether its alert was raised

Revision ID: c0003
Revises: c0002
"""

import sqlalchemy as sa

from shared.ddl import add_column

revision = "c0003"
down_revision = "c0002"


def upgrade() -> None:
    # The end of the first failed run of the current streak (cleared by a success): `status`
    # shows "failing since", the no-success alert counts from it when nothing ever succeeded.
    add_column("schedules", sa.Column("failing_since", sa.DateTime, nullable=True))
    # When this episode's alert was raised (cleared by a success): one alert per episode, not
    # one a minute.
    add_column("schedules", sa.Column("alerted_at", sa.DateTime, nullable=True))


def downgrade() -> None:
    raise NotImplementedError("the control database is never downgraded automatically")
