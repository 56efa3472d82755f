"""The registry served for real (`registry serve`: gunicorn, its own processes) on loopback, on a
database of the test's own, for the crash and multi-instance tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import requests
from sqlalchemy.orm import sessionmaker

from registry.auth.tokens import issue_gateway_token
from registry.clock import SystemClock
from registry.db.base import make_engine
from registry.db.migrate import upgrade
from tests.factories import make_world

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def current_world(sessions, **kw):
    """A permitting world for today (the served registry runs on the system clock)."""
    year = datetime.now(timezone.utc).year
    with sessions() as s:
        world = make_world(s, SystemClock(), contract_term=(date(year, 1, 1), date(year, 12, 31)),
                           agreement_term=(date(year, 1, 1), None), **kw)
        token = issue_gateway_token(s, clock=SystemClock(), gateway=world.gateway,
                                    scope="routing:decide usage:report", ttl=3600).access_token
        s.commit()
    return world, {"Authorization": f"Bearer {token}"}


def migrated(url: str):
    engine = make_engine(url)
    upgrade(engine)
    return engine, sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@dataclass
class Served:
    url: str
    proc: subprocess.Popen
    log: object = None  # the server's stderr, a file beside the test's database

    def kill(self) -> None:
        """SIGKILL the whole process group (gunicorn's master and its workers), no clean-up."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def serve(database_url: str, key_dir: Path, *, workers: int = 2, threads: int = 2,
          seal_interval: float = 0.3, env: dict[str, str] | None = None) -> Served:
    port = free_port()
    log = open(key_dir.parent / f"serve-{port}.log", "wb")  # noqa: SIM115 - kept for a failing test
    env = dict(os.environ, REGISTRY_DATABASE_URL=database_url, REGISTRY_SIGNING_KEY_DIR=str(key_dir),
               REGISTRY_AUDIT_SEAL_INTERVAL=str(seal_interval), PYTHONPATH=str(ROOT), **(env or {}))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # `registry serve` makes a fresh one
    proc = subprocess.Popen([sys.executable, "-m", "registry.cli", "serve", "--port", str(port),
                             "--workers", str(workers), "--threads", str(threads)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
                            start_new_session=True)
    served = Served(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(served.url + "/.well-known/jwks.json", timeout=5)
            return served
        except (requests.ConnectionError, requests.Timeout):
            if proc.poll() is not None or time.monotonic() > deadline:
                served.stop()
                raise RuntimeError("registry serve did not come up") from None
            time.sleep(0.2)


def decide(url: str, headers: dict, tool: str, key: str, http: requests.Session | None = None) -> dict:
    """A child's hand X-ray for ``tool`` at the registry at ``url``; the answer, which must be a 200."""
    body = {"tool": tool, "purpose": "clinical-care",
            "study": {"study_key": key, "modality": "DX", "body_part": "HAND",
                      "patient_age_years": 9.5, "patient_sex": "M"}}
    response = (http or requests).post(url + "/api/v1/decisions", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()
