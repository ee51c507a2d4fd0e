"""Alembic environment: runs on the connection the store hands over (see bot.store.db.migrate)."""

from alembic import context
from sqlmodel import SQLModel

import bot.store.models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata
connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` run by hand: use CAMPAIGN_DB_URL
    import os

    from sqlalchemy import create_engine

    engine = create_engine(os.environ["CAMPAIGN_DB_URL"])
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
