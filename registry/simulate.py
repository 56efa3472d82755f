"""``registry simulate``: realistic traffic from the demo world's gateways against a running registry.

It drives :mod:`registry.client` exactly as a hospital's gateway would (tokens, decisions with
retries, usage in batches). Only credential registration (``--register``) touches the database,
on the same machine: it rotates each active demo gateway's secret and keeps the new secrets in
memory for this run (the old ones stop working, which is acceptable for a demo world).
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click

from registry.client import BundleInvalid, RegistryClient, RegistryError

TOOLS = ("bonexpert", "rbfracture", "cina-ipe")
RETRY_SHARE, OUTSIDE_SHARE, RESEARCH_SHARE = 0.15, 0.2, 0.05
USAGE_OUTCOMES = (("completed", 0.85), ("failed", 0.1), ("cancelled", 0.05))


@dataclass(frozen=True)
class GatewayCredential:
    client_id: str
    hospital: str
    secret: str = field(repr=False)


@dataclass
class Row:
    permits: int = 0
    denies: Counter = field(default_factory=Counter)  # reason code → deny answers
    usage: Counter = field(default_factory=Counter)  # outcome → events the registry accepted


@dataclass
class Summary:
    rows: dict[tuple[str, str], Row] = field(default_factory=lambda: defaultdict(Row))
    retries: int = 0
    offline: int = 0
    errors: int = 0

    def table(self) -> str:
        head = f"{'hospital':36} {'tool':11} {'permits':>7} {'denies':>6}  {'usage c/f/x':>11}  deny reasons"
        lines = [head, "-" * len(head)]
        for (hospital, tool), r in sorted(self.rows.items()):
            usage = f"{r.usage['completed']}/{r.usage['failed']}/{r.usage['cancelled']}"
            reasons = ", ".join(f"{c} {n}" for c, n in r.denies.most_common())
            lines.append(f"{hospital[:36]:36} {tool:11} {r.permits:7} {sum(r.denies.values()):6}  "
                         f"{usage:>11}  {reasons}")
        lines.append(f"retries {self.retries}, offline decisions {self.offline}, errors {self.errors}")
        return "\n".join(lines)


def _study(rng: random.Random, tool: str, inside: bool, key: str) -> dict[str, Any]:
    """DICOM facts a gateway would send, drawn within the tool's intended use or just outside."""
    sex = rng.choice("MF")
    if tool == "bonexpert":
        study = {"modality": rng.choice(["CR", "DX"]), "body_part": "HAND", "patient_sex": sex,
                 "patient_age_years": round(rng.uniform(1, 17), 1)}
        if not inside:
            study["patient_age_years"] = round(rng.uniform(25, 70), 1)
    elif tool == "rbfracture":
        study = {"modality": "DX", "body_part": rng.choice(["WRIST", "ANKLE", "HIP"]),
                 "patient_sex": sex, "patient_age": f"{rng.randint(18, 95):03d}Y"}
        if not inside:
            study["patient_age"] = f"{rng.randint(2, 15):03d}Y"
    else:
        study = {"modality": "CT", "body_part": "CHEST", "patient_sex": sex, "contrast": inside,
                 "patient_age_years": rng.randint(18, 90)}
    return dict(study, study_key=key)


def _outcome(rng: random.Random) -> str:
    x, acc = rng.random(), 0.0
    for outcome, share in USAGE_OUTCOMES:
        acc += share
        if x < acc:
            return outcome
    return "completed"


def run_simulation(url: str, credentials: list[GatewayCredential], *, studies: int, seed: int,
                   progress: Callable[[int], None] = lambda n: None,
                   make_client: Callable[..., RegistryClient] = RegistryClient) -> Summary:
    """Play ``studies`` studies across the gateways; returns what the registry answered."""
    if not credentials:
        raise click.UsageError("no gateway credentials")
    rng = random.Random(seed)
    clients = {c.client_id: make_client(url, c.client_id, client_secret=c.secret, backoff=0.05)
               for c in credentials}
    summary = Summary()
    for cred in credentials:
        try:
            clients[cred.client_id].refresh_bundle()
        except (RegistryError, BundleInvalid):
            summary.errors += 1
    pending: dict[str, tuple[tuple[str, str], str]] = {}  # event id → (row key, outcome)
    for n in range(studies):
        cred = rng.choice(credentials)
        client = clients[cred.client_id]
        tool = rng.choice(TOOLS)
        purpose = "research" if rng.random() < RESEARCH_SHARE else "clinical-care"
        study = _study(rng, tool, rng.random() >= OUTSIDE_SHARE, f"sim-{seed}-{n}")
        row = summary.rows[(cred.hospital, tool)]
        try:
            asks = 2 if rng.random() < RETRY_SHARE else 1  # a gateway that lost the first answer
            for _ in range(asks):
                decision = client.decide(tool=tool, purpose=purpose, study=study)
            summary.retries += asks - 1
        except RegistryError:
            summary.errors += 1
            progress(1)
            continue
        summary.offline += decision.offline
        if decision.permit:
            row.permits += 1
            outcome = _outcome(rng)
            pending[client.report(decision, outcome)] = ((cred.hospital, tool), outcome)
        else:
            # Each deny answer is stored, retries included (a deny is evaluated afresh).
            for _ in range(asks):
                row.denies[decision.reasons[0]["code"] if decision.reasons else "DENY"] += 1
        progress(1)
    undelivered: set[str] = set()
    for client in clients.values():
        result = client.flush()
        undelivered |= {r["event"]["event_id"] for r in result.rejected}
        undelivered |= {e["event_id"] for e in client._queue} | set(client.offline_records)
        summary.errors += len(result.rejected) + result.pending
    for event_id, (key, outcome) in pending.items():
        if event_id not in undelivered:
            summary.rows[key].usage[outcome] += 1
    return summary


def register_demo_credentials(session, *, clock) -> list[GatewayCredential]:  # noqa: ANN001
    """Rotate the secret of every active demo gateway of an active hospital; secrets kept in memory."""
    from sqlalchemy import select

    from registry.actor import Actor
    from registry.db.organisations import Gateway, Organisation
    from registry.services.gateways import add_credential

    rows = session.execute(
        select(Gateway, Organisation).join(Organisation, Organisation.id == Gateway.hospital_id)
        .where(Gateway.status == "active", Organisation.status == "active",
               Gateway.name.like("gateway-%")).order_by(Gateway.id)).all()
    actor = Actor.system("simulate")
    out = []
    for gateway, hospital in rows:
        secret = add_credential(session, actor=actor, clock=clock, gateway=gateway, public_jwk=None)
        out.append(GatewayCredential(gateway.client_id, hospital.name, secret))
    return out


@click.command()
@click.option("--url", default="http://127.0.0.1:5000", show_default=True)
@click.option("--studies", default=200, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--register", is_flag=True,
              help="rotate the demo gateways' secrets in REGISTRY_DATABASE_URL (this machine) and "
                   "use them for this run")
@click.option("--credentials", "cred_file", type=click.Path(exists=True, dir_okay=False),
              help='JSON list of {"client_id", "hospital", "client_secret"} instead of --register')
def simulate(url: str, studies: int, seed: int, register: bool, cred_file: str | None) -> None:
    """Play realistic gateway traffic against a running registry and print a summary."""
    if register == bool(cred_file):
        raise click.UsageError("give exactly one of --register or --credentials")
    if register:
        from registry.cli import _engine, _session, _settings
        from registry.clock import SystemClock

        session = _session(_engine(_settings()))
        try:
            creds = register_demo_credentials(session, clock=SystemClock())
            session.commit()
        finally:
            session.close()
    else:
        creds = [GatewayCredential(c["client_id"], c.get("hospital", c["client_id"]), c["client_secret"])
                 for c in json.loads(Path(cred_file).read_text())]
    with click.progressbar(length=studies, label=f"{studies} studies from {len(creds)} gateways") as bar:
        summary = run_simulation(url, creds, studies=studies, seed=seed, progress=bar.update)
    click.echo(summary.table())
