"""index for the error view of the event history

Revision ID: t0003
Revises: t0002

`iluo-sync events --errors` (and `status`'s "last failure") filter events by level and read the
newest first; with the event history on, sync_events grows by one row per synced item, so that
read needs its own index rather than a scan.
"""

from shared.ddl import create_index

revision = "t0003"
down_revision = "t0002"


def upgrade() -> None:
    create_index("ix_sync_events_level_at", "sync_events", ["level", "at"])


def downgrade() -> None:
    raise NotImplementedError("sync tables are never dropped automatically")
