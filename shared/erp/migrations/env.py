"""Alembic environment: always run programmatically by `shared.migrate` on a given connection."""

from alembic import context

config = context.config
connection = config.attributes["connection"]
context.configure(connection=connection, version_table=config.attributes["version_table"])
with context.begin_transaction():
    context.run_migrations()
