"""Test fixtures.

The schema is built by Alembic once per test session (on SQLite, or on PostgreSQL when
REGISTRY_TEST_DATABASE_URL points there), with the demo world seeded at a fixed clock. Each test
then runs inside a connection-level transaction that is rolled back, using savepoints for the
commits the edges make (warehouse's pattern). Tests that need real commits across threads use
``fresh_engine``: a brand-new database of their own.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from registry.clock import FixedClock
from registry.db.base import make_engine
from registry.db.migrate import upgrade
from registry.policy.engine import PolicyEngine
from registry.settings import Settings

# Timings are not a pass/fail matter (CI and mutation runs share a loaded machine): Hypothesis
# neither times examples out nor fails a test whose inputs were slow to generate.
settings.register_profile("registry", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("registry")

def pytest_sessionstart(session) -> None:  # noqa: ANN001
    """The Dutch catalogues compiled from their .po files (as `make` does), so pytest alone works.
    Under pytest-xdist only the controller compiles: workers writing the same .mo files at once
    could read each other's half-written file."""
    if hasattr(session.config, "workerinput"):
        return
    from registry.web.i18n import compile_catalogues

    compile_catalogues()


# The demo world and most tests live on this day (Amsterdam: 2026-06-01, 12:00 CEST).
DEMO_NOW = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)


def database_url(tmp_dir: Path) -> str:
    return os.environ.get("REGISTRY_TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.db'}"


def is_postgres() -> bool:
    return os.environ.get("REGISTRY_TEST_DATABASE_URL", "").startswith("postgresql")


def _worker_database(url: str) -> tuple[str, callable]:
    """Under pytest-xdist (``-n``) the workers cannot share the session's PostgreSQL database:
    each resets and seeds its own. So each worker gets a database of its own on the same server,
    named after the configured one and the worker, made afresh and dropped at the end."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url, lambda: None
    return _create_postgres_database(url, f"{make_url(url).database}_{worker}")


def _create_postgres_database(url: str, name: str) -> tuple[str, callable]:
    """Database ``name`` made afresh on the server of ``url`` (a leftover of a killed run is
    dropped first); returns its URL and the function that drops it."""
    base = make_url(url)
    admin = make_engine(base.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def new_database(tmp_dir: Path) -> tuple[str, callable]:
    """A new, empty database: a file on SQLite, a new database on the PostgreSQL server."""
    if is_postgres():
        return _create_postgres_database(os.environ["REGISTRY_TEST_DATABASE_URL"],
                                         f"regtest_{uuid.uuid4().hex[:12]}")
    path = tmp_dir / f"{uuid.uuid4().hex[:8]}.db"
    return f"sqlite:///{path}", lambda: None


@pytest.fixture(scope="session")
def policy_engine() -> PolicyEngine:
    return PolicyEngine.load()


@pytest.fixture(scope="session")
def engine(tmp_path_factory, policy_engine):
    """The session's database: migrated to head by Alembic, demo world seeded, committed."""
    tmp = tmp_path_factory.mktemp("db")
    url, drop = database_url(tmp), lambda: None
    if is_postgres():
        url, drop = _worker_database(url)
        _reset_postgres(url)
    copied = _copy_sqlite_template(url, policy_engine)
    eng = make_engine(url)
    if not copied:
        _migrate_and_seed(eng, policy_engine)
    yield eng
    eng.dispose()
    drop()


def _copy_sqlite_template(url: str, policy_engine: PolicyEngine) -> bool:
    """Mutation sweeps only (.ci/mutation_sweep.py; never set in CI): migrating and seeding is most
    of a short run, so with REGISTRY_TEST_SQLITE_TEMPLATE it is done once into that file, which
    each run copies to ``url``. True when copied."""
    template = os.environ.get("REGISTRY_TEST_SQLITE_TEMPLATE")
    if not template or is_postgres():
        return False
    if not os.path.exists(template):
        building = f"{template}.{os.getpid()}"
        built = make_engine(f"sqlite:///{building}")
        _migrate_and_seed(built, policy_engine)
        built.dispose()  # the last connection closed: the write-ahead log is in the file
        Path(f"{building}-writer.lock").unlink(missing_ok=True)
        os.replace(building, template)
    shutil.copyfile(template, make_url(url).database)
    return True


def _migrate_and_seed(eng, policy_engine: PolicyEngine) -> None:
    from registry.demo import seed_demo

    upgrade(eng)
    session = sessionmaker(bind=eng)()
    seed_demo(session, clock=FixedClock(DEMO_NOW), engine=policy_engine)
    session.commit()
    session.close()


@pytest.fixture
def connection(engine):
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture
def sessions(connection):
    """A session factory whose commits become savepoints inside the test's transaction."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint",
                        expire_on_commit=False, autoflush=False)


@pytest.fixture
def session(sessions) -> Session:
    s = sessions()
    yield s
    s.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(DEMO_NOW)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """The local test CA (tests/pades.py) that the test apps trust for signatures on agreements."""
    from tests.pades import TestCA

    ca = TestCA()
    ca.path = ca.write(tmp_path_factory.mktemp("ca"))
    return ca


@pytest.fixture
def settings(tmp_path, test_ca) -> Settings:
    return Settings(environment="test", database_url="sqlite://", signing_key_dir=tmp_path / "keys",
                    secret_key="test-secret-key-" + "x" * 32, signature_trust_anchors=(test_ca.path,))


@pytest.fixture
def app(engine, sessions, clock, settings):
    from registry.app import create_app

    app = create_app(settings, clock=clock, engine=engine, sessions=sessions)
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def fresh_engine(tmp_path):
    """A brand-new database of this test's own (for concurrency and migration tests)."""
    url, drop = new_database(tmp_path)
    eng = make_engine(url)
    yield eng
    eng.dispose()
    drop()


@pytest.fixture
def world(session, clock):
    """A complete, permitting world for one hospital and tool (tests.factories.make_world), committed."""
    from tests.factories import make_world

    w = make_world(session, clock)
    session.commit()
    return w


@pytest.fixture
def headers(session, clock, world):
    """A bearer token of the world's gateway with every gateway scope."""
    from tests.factories import bearer

    return bearer(session, clock, world.gateway)
