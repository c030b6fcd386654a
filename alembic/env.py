"""Alembic environment: the URL comes from `portal db upgrade` or PORTAL_DATABASE_URL."""

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

import portal.base.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from portal.base.db import configure, sync_url
from portal.base.settings import DEFAULT_DATABASE_URL

config = context.config
if config.config_file_name is not None and not config.attributes.get("database_url"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def database_url() -> str:
    url = config.attributes.get("database_url")
    return url or sync_url(os.environ.get("PORTAL_DATABASE_URL", DEFAULT_DATABASE_URL))


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = configure(create_engine(database_url(), poolclass=pool.NullPool))
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
