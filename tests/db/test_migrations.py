"""Migrations are the only way the schema is made: upgrade, no drift, downgrade, upgrade again."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from registry.db.base import metadata
from registry.db.migrate import downgrade, upgrade


def _drift(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, metadata)


def test_upgrade_head_matches_models(fresh_engine):
    upgrade(fresh_engine)
    assert _drift(fresh_engine) == []


def test_drift_is_detected(fresh_engine):
    """The drift check can fail: a model column the migrations do not create is reported."""
    from sqlalchemy import Column, Integer

    upgrade(fresh_engine)
    table = metadata.tables["purposes"]
    extra = Column("not_migrated", Integer)
    table.append_column(extra)
    try:
        diffs = _drift(fresh_engine)
    finally:
        table._columns.remove(extra)
    assert any(d[0] == "add_column" and d[3].name == "not_migrated" for d in diffs)


def test_downgrade_to_base_and_back(fresh_engine):
    upgrade(fresh_engine)
    downgrade(fresh_engine, "base")
    names = set(inspect(fresh_engine).get_table_names()) - {"alembic_version"}
    assert names == set()
    upgrade(fresh_engine)
    assert _drift(fresh_engine) == []
