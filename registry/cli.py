"""The ``registry`` command: database, demo world, server, users, organisations, gateways."""

from __future__ import annotations

import getpass
import json
import sys
from contextlib import contextmanager
from datetime import timezone
from pathlib import Path

import click

from registry.actor import Actor
from registry.clock import SystemClock


def _settings():
    from registry.settings import Settings

    return Settings()


def _engine(settings):
    from registry.db.base import make_engine

    url = settings.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    # Close the pool when the command ends: a pooled psycopg connection collected with a
    # forgotten engine is left open (and warns).
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(engine.dispose)
    return engine


def _session(engine):
    from registry.db.base import make_session_factory

    return make_session_factory(engine)()


def _actor() -> Actor:
    # The change records name who ran the command on which machine account.
    return Actor.system(f"cli:{getpass.getuser()}")


@contextmanager
def unit_of_work(settings=None):  # noqa: ANN001, ANN201
    """One session, committed once if the body succeeds; a service error exits with code 2."""
    session = _session(_engine(settings or _settings()))
    try:
        yield session
        session.commit()
    except Exception as exc:  # noqa: BLE001
        session.rollback()
        _fail(exc)
    finally:
        session.close()


def _fail(exc: Exception) -> None:
    from registry.services.errors import ServiceError

    if isinstance(exc, ServiceError):
        click.echo(f"error: {exc.detail}", err=True)
        for key, value in exc.fields.items():
            click.echo(f"  {key}: {value}", err=True)
        sys.exit(2)
    raise exc


@click.group()
def main() -> None:
    """AIFI governance, consent and procurement registry."""


@main.group()
def db() -> None:
    """Database schema (Alembic migrations are the only way it is made)."""


@db.command("upgrade")
@click.option("--revision", default="head")
def db_upgrade(revision: str) -> None:
    from registry.db.migrate import upgrade

    engine = _engine(_settings())
    upgrade(engine, revision)
    click.echo(f"database at {revision}")


@main.command()
def demo() -> None:
    """Migrate and seed the AIFI pilot demo world (idempotent)."""
    from registry.db.migrate import upgrade
    from registry.demo import DEMO_PASSWORD, seed_demo
    from registry.policy.engine import PolicyEngine

    settings = _settings()
    engine = _engine(settings)
    upgrade(engine)
    session = _session(engine)
    try:
        report = seed_demo(session, clock=SystemClock(), engine=PolicyEngine.load())
        session.commit()
    finally:
        session.close()
    if report.created:
        click.echo(f"demo world created: {report.hospitals} hospitals, three tools")
    else:
        click.echo("demo world already present; nothing changed")
    click.echo(f"log in at {settings.issuer}/login with password {DEMO_PASSWORD!r} as one of:")
    from registry.demo import DEMO_ORG_USERS, DEMO_USERS
    from registry.demo_clinical import CLINICAL_USERS, WEST, WEST_USERS

    for email, role in DEMO_USERS:
        click.echo(f"  {email:28} ({role}, national)")
    for email, role, org in DEMO_ORG_USERS + [(e, r, WEST[0]) for e, r, _ in WEST_USERS] + CLINICAL_USERS:
        click.echo(f"  {email:28} ({role}, {org} only)")
    click.echo(f"  ({WEST[0]}'s deployment was filled in by {WEST_USERS[0][0]}, so only "
               f"{WEST_USERS[1][0]} may approve it)")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int)
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the registry with gunicorn (a production WSGI server)."""
    import os

    from gunicorn.app.base import BaseApplication

    settings = _settings()
    if "REGISTRY_AUDIT_SEAL_INTERVAL" not in os.environ:
        # A served registry seals its audit trail itself (every 5 s, one sealer at a time across
        # workers and instances), unless told otherwise.
        settings = settings.model_copy(update={"audit_seal_interval": 5.0})
    _metrics_directory()

    class _App(BaseApplication):
        def load_config(self):  # noqa: ANN202
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", "-")
            # Access log without query strings: they never carry secrets here, but be sure.
            self.cfg.set("access_log_format", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss')
            self.cfg.set("child_exit", _metrics_worker_exit)

        def load(self):  # noqa: ANN202
            from registry.app import create_app

            return create_app(settings)

    click.echo(f"serving on http://{host}:{port}")
    _App().run()


def _metrics_directory() -> None:
    """prometheus-client's multiprocess mode: every worker writes its samples here and a scrape
    of any worker adds them up. A fresh directory per start (stale files would count twice)."""
    import os
    import tempfile

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="registry-metrics-")


def _metrics_worker_exit(_server, worker) -> None:  # noqa: ANN001
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


@main.group()
def users() -> None:
    """People who log in."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", "roles", required=True, multiple=True)
@click.option("--password", default=None, help="omit to generate one (shown once)")
@click.option("--name", default="")
def users_create(email: str, roles: tuple[str, ...], password: str | None, name: str) -> None:
    from registry.services.users import create_user

    with unit_of_work() as session:
        user, generated = create_user(session, actor=_actor(), clock=SystemClock(),
                                      email=email, roles=list(roles), password=password, name=name)
    click.echo(f"user {user.email} created with roles {', '.join(user.roles)}")
    if generated:
        click.echo(f"password (shown once): {generated}")


@users.command("token")
@click.option("--email", required=True)
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 366))
@click.option("--name", default="", help="how the token is listed (default: 'cli <date>')")
def users_token(email: str, days: int, name: str) -> None:
    """A personal API token with the user's own permissions, printed once as JSON."""
    from sqlalchemy import select

    from registry.db.users import User
    from registry.services.api_tokens import create_personal_token

    clock = SystemClock()
    with unit_of_work() as session:
        user = session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise click.ClickException(f"no user {email}")
        created = create_personal_token(session, actor=_actor(), clock=clock, user_id=user.id,
                                        name=name or f"cli {clock.now():%Y-%m-%d %H:%M}", days=days)
        expires = created.expires_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    click.echo(json.dumps({"token": created.token, "expires_at": expires}))


@main.group()
def orgs() -> None:
    """Organisations."""


@orgs.command("list")
@click.option("--kind", type=click.Choice(["hospital", "vendor", "platform_operator", "consortium"]))
@click.option("--json", "as_json", is_flag=True)
def orgs_list(kind: str | None, as_json: bool) -> None:
    from registry.services.organisations import list_organisations

    with unit_of_work() as session:
        rows = [{"id": o.id, "kind": o.kind, "name": o.name, "ura": o.ura, "agb": o.agb,
                 "kvk": o.kvk, "status": o.status, "illustrative": o.illustrative}
                for o in list_organisations(session, kind=kind)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['kind']:18} {r['ura'] or '-':9} {r['status']:11} {r['name']}")


@main.group()
def gateways() -> None:
    """Hospital gateways (OAuth2 clients)."""


@gateways.command("add")
@click.option("--hospital", "ura", required=True, help="the hospital's URA")
@click.option("--name", required=True)
@click.option("--jwk", "jwk_file", type=click.Path(exists=True, dir_okay=False),
              help="public JWK file (Ed25519 or P-256); omit for a generated secret")
def gateways_add(ura: str, name: str, jwk_file: str | None) -> None:
    from registry.services.gateways import register_gateway
    from registry.services.organisations import find_by_ura

    jwk = json.loads(Path(jwk_file).read_text()) if jwk_file else None
    with unit_of_work() as session:
        hospital = find_by_ura(session, ura)
        gateway, secret = register_gateway(session, actor=_actor(), clock=SystemClock(),
                                           hospital_id=hospital.id, name=name, public_jwk=jwk)
    out = {"client_id": gateway.client_id, "hospital": ura, "name": name,
           "token_endpoint_auth_method": "private_key_jwt" if jwk else "client_secret_basic"}
    if secret:
        out["client_secret"] = secret  # shown once; only its hash is stored
    click.echo(json.dumps(out, indent=2))


@gateways.command("revoke")
@click.argument("client_id")
@click.option("--reason", default="revoked from the command line")
def gateways_revoke(client_id: str, reason: str) -> None:
    from registry.services.gateways import set_gateway_status

    with unit_of_work() as session:
        set_gateway_status(session, actor=_actor(), clock=SystemClock(),
                           client_id=client_id, status="revoked", reason=reason)
    click.echo(json.dumps({"client_id": client_id, "status": "revoked"}))


@main.group()
def keys() -> None:
    """The registry's Ed25519 signing keys (bundles, decision JWS, audit checkpoints)."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Make a new signing key; the old ones stay in the JWKS for one bundle lifetime.

    Running instances sign with the new key once restarted."""
    from registry.auth.jwks import rotate_signing_key

    settings = _settings()
    with unit_of_work(settings) as session:
        key = rotate_signing_key(session, actor=_actor(), clock=SystemClock(),
                                 directory=settings.signing_key_dir,
                                 publish_for=settings.bundle_ttl)
    click.echo(json.dumps({"kid": key.kid, "previous_keys_published_for_seconds": settings.bundle_ttl}))


@gateways.command("rotate")
@click.argument("client_id")
@click.option("--jwk", "jwk_file", type=click.Path(exists=True, dir_okay=False),
              help="the new public JWK file; omit for a new generated secret")
def gateways_rotate(client_id: str, jwk_file: str | None) -> None:
    """Replace a gateway's key or secret; the old credential stops working at once."""
    from registry.services.gateways import rotate_credential

    jwk = json.loads(Path(jwk_file).read_text()) if jwk_file else None
    with unit_of_work() as session:
        _gateway, secret = rotate_credential(session, actor=_actor(), clock=SystemClock(),
                                             client_id=client_id, public_jwk=jwk)
    out = {"client_id": client_id,
           "token_endpoint_auth_method": "private_key_jwt" if jwk else "client_secret_basic"}
    if secret:
        out["client_secret"] = secret  # shown once; only its hash is stored
    click.echo(json.dumps(out, indent=2))


@main.group()
def usage() -> None:
    """Usage metering: reservations, expiry, reconciliation."""


@usage.command("expire")
@click.option("--batch", default=1000, show_default=True, type=int,
              help="reservations per transaction (short transactions; repeated until none are left)")
def usage_expire(batch: int) -> None:
    """Release reservations never confirmed within REGISTRY_RESERVATION_WINDOW seconds."""
    from registry.services.usage import expire_reservations

    settings = _settings()
    session = _session(_engine(settings))
    total = 0
    try:
        while True:
            n = expire_reservations(session, actor=_actor(), clock=SystemClock(),
                                    window_seconds=settings.reservation_window, limit=batch)
            session.commit()
            total += n
            if n < batch:
                break
    finally:
        session.close()
    click.echo(json.dumps({"expired": total}))


@main.group()
def report() -> None:
    """Reports: statements of what hospitals owe."""


@report.command("statement")
@click.option("--hospital", "ura", help="the hospital's URA")
@click.option("--consortium", is_flag=True, help="the consortium's overview instead of one hospital")
@click.option("--period", required=True, help="2026, 2026-Q3 or 2026-07")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="the file to write; its extension gives the format: .pdf, .csv or .xlsx")
def report_statement(ura: str | None, consortium: bool, period: str, out: Path) -> None:
    """Write a hospital's statement (or with --consortium the overview) for a period."""
    from registry.reports.statements import build_statement, render

    if bool(ura) == consortium:
        raise click.UsageError("give either --hospital <URA> or --consortium")
    with unit_of_work() as session:
        statement = build_statement(session, actor=_actor(), period=period, hospital_ura=ura)
        body, _media = render(statement, out.suffix.lower().lstrip("."))
    out.write_bytes(body)
    click.echo(json.dumps({"out": str(out), "total_cents": statement.total_cents,
                           "vat_cents": statement.vat_total_cents, "lines": len(statement.lines)}))


@main.group()
def webhooks() -> None:
    """Urgent notices pushed to subscribers (signed, retried with back-off)."""


@webhooks.command("deliver")
def webhooks_deliver() -> None:
    """Queue the incident deadlines now due, then send every delivery that is due (run it every
    minute, for example from a systemd timer); failures wait for their next attempt."""
    from collections import Counter

    from registry.services.incidents import remind_due
    from registry.services.webhooks import deliver_due

    settings = _settings()
    with unit_of_work(settings) as session:
        reminded = remind_due(session, clock=SystemClock())
    with unit_of_work(settings) as session:
        sent = deliver_due(session, clock=SystemClock(), secret_key=settings.secret_key)
        outcome = Counter(d.status for d in sent)
    click.echo(json.dumps({"deadlines_queued": reminded, **outcome}))


@main.command("whatif")
@click.option("--policies", "policy_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="a directory of policy files (*.cedar and schema.cedarschema) to compare with the ones in force")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 366))
@click.option("--json", "as_json", is_flag=True)
def whatif_policies(policy_dir: Path, days: int, as_json: bool) -> None:
    """How many decisions of the last DAYS days would turn from permit to deny, or back, under
    the policy files in DIR (each evaluated again on its own day; nothing is stored)."""
    from registry.policy.engine import PolicyEngine, PolicyLoadError
    from registry.services.whatif import preview

    try:
        current, other = PolicyEngine.load(), PolicyEngine.load(policy_dir)
    except PolicyLoadError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    with unit_of_work() as session:
        result = preview(session, actor=_actor(), clock=SystemClock(), engine=current, policies=other, days=days)
        session.rollback()  # a read: nothing to commit
    if as_json:
        click.echo(json.dumps(result.as_dict() | {"policy_version": other.version}, indent=2))
        return
    click.echo(f"{result.evaluated} decisions from {result.since} to {result.until}: "
               f"{result.to_deny} permit -> deny, {result.to_permit} deny -> permit")
    for pair in result.pairs:
        click.echo(f"  {pair.hospital} x {pair.tool}: {pair.to_deny} -> deny, {pair.to_permit} -> permit")


from registry.simulate import simulate as _simulate  # noqa: E402 - its own module

main.add_command(_simulate)

from registry.audit.cli import audit as _audit  # noqa: E402 - its own module, like the others'

main.add_command(_audit)

if __name__ == "__main__":  # pragma: no cover
    main()
