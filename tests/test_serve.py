"""`registry serve` runs the registry under gunicorn, and a served registry seals its audit trail."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_registry_serve_answers_and_seals(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'served.db'}"
    env = dict(os.environ, REGISTRY_DATABASE_URL=url, REGISTRY_SIGNING_KEY_DIR=str(tmp_path / "keys"))
    env.pop("REGISTRY_AUDIT_SEAL_INTERVAL", None)
    cli = [sys.executable, "-m", "registry.cli"]
    subprocess.run(cli + ["demo"], env=env, check=True, capture_output=True, timeout=120)
    port = _free_port()
    server = subprocess.Popen(cli + ["serve", "--port", str(port), "--workers", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/?lang=en", timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):
                # The master accepts connections before its worker has booted (seconds on a
                # busy machine): a read timeout then means "not up yet", like a refusal.
                assert time.time() < deadline, "registry serve did not come up"
                time.sleep(0.3)
        assert response.status_code == 200 and "Radboudumc" in response.text
        assert response.headers.get("X-Request-ID")
        # The served registry's background sealer seals the demo's entries within seconds.
        check = [sys.executable, "-c", (
            "from sqlalchemy import create_engine, text; import sys;"
            f"e = create_engine({url!r});"
            "c = e.connect(); print(c.execute(text('select count(*) from audit_entries where not sealed')).scalar())")]
        for _ in range(60):
            if subprocess.run(check, capture_output=True, text=True).stdout.strip() == "0":
                break
            time.sleep(0.5)
        else:
            raise AssertionError("entries were not sealed by the served registry")
    finally:
        server.terminate()
        server.wait(timeout=30)
