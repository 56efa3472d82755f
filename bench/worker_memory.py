"""Peak memory of one server worker with the large registry (bench/large_registry.py) after it has
decided for many (hospital, tool) pairs, so that its in-memory terms are well filled.

    .venv/bin/python bench/worker_memory.py [--pairs 3000] [--database-url ...]   (default: SQLite)

Serves the registry with gunicorn (1 gthread worker), asks one decision for each of ``--pairs``
licensed (hospital, tool) pairs through 100 hospitals' gateways, and reads the worker's peak
resident set (VmHWM in /proc/<pid>/status). Results as JSON in bench/results/worker_memory_<db>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.decisions_http import free_port, serve  # noqa: E402


def build(url: str, hospitals: int) -> list[tuple[str, str]]:
    """(token, tool slug) per licensed pair of the first ``hospitals`` generated hospitals."""
    from sqlalchemy import select
    from sqlalchemy.orm import sessionmaker

    from bench.large_registry import generate
    from registry.auth.tokens import issue_gateway_token
    from registry.clock import SystemClock
    from registry.db.base import make_engine
    from registry.db.contracts import Licence
    from registry.db.migrate import upgrade
    from registry.db.organisations import Gateway
    from registry.db.tools import Tool

    engine = make_engine(url)
    upgrade(engine)
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    clock = SystemClock()
    generate(session, clock)
    session.commit()
    pairs = []
    for gateway in session.scalars(select(Gateway).order_by(Gateway.id).limit(hospitals)):
        token = issue_gateway_token(session, clock=clock, gateway=gateway, scope="routing:decide",
                                    ttl=3600).access_token
        for slug in session.scalars(select(Tool.slug).join(Licence, Licence.tool_id == Tool.id)
                                    .where(Licence.hospital_id == gateway.hospital_id)):
            pairs.append((token, slug))
    session.commit()
    engine.dispose()
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    url = args.database_url or f"sqlite:///{tmp / 'large.db'}"
    pairs = build(url, 100)[:args.pairs]
    env = dict(os.environ, REGISTRY_DATABASE_URL=url, REGISTRY_SIGNING_KEY_DIR=str(tmp / "keys"),
               PYTHONPATH=str(ROOT))
    port = free_port()
    proc = serve("registry.app:create_app()", env, port, 1, 4)
    permits = 0
    try:
        http = requests.Session()
        for n, (token, slug) in enumerate(pairs):
            body = {"tool": slug, "purpose": "clinical-care",
                    "study": {"study_key": f"mem-{n}", "modality": "DX", "body_part": "HAND",
                              "patient_age_years": 40, "patient_sex": "F"}}
            answer = http.post(f"http://127.0.0.1:{port}/api/v1/decisions", json=body,
                               headers={"Authorization": f"Bearer {token}"}, timeout=30)
            permits += answer.json()["decision"] == "permit"
        worker = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        status = Path(f"/proc/{worker}/status").read_text()
        peak = int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM")).split()[1]) / 1024
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    kind = url.split(":")[0].split("+")[0]
    result = {"when": datetime.now(timezone.utc).isoformat(), "database": kind, "pairs": len(pairs),
              "permits": permits, "worker_peak_rss_mb": peak, "cores": os.cpu_count(),
              "load_avg": os.getloadavg()}
    print(json.dumps(result, indent=2))
    (ROOT / "bench" / "results" / f"worker_memory_{kind}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
