"""Alembic environment: the only way the schema is made (app, CLI and tests alike)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import registry.db  # noqa: F401  (registers every table on the metadata)
from registry.db.base import make_engine, metadata
from registry.db.types import UTCDateTime

config = context.config


def _render_item(type_, obj, autogen_context):  # noqa: ANN001
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "registry.db.types.UTCDateTime()"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from registry.settings import Settings

        url = Settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():  # pragma: no cover
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()
