"""Decisions per second over HTTP under the production server, next to the floor.

Runs, in one go and on this machine: the registry (gunicorn, gthread) on a fresh database with
the demo world, and a minimal Flask JSON endpoint served the same way; wrk drives both with the
same decision body (a new study_key every request, so every request is a real permit that
reserves quota and writes a decision and an audit entry). Prints requests/s and the ratio.

    .venv/bin/python bench/decisions_http.py [--seconds 10] [--connections 16]
        [--database-url postgresql+psycopg://postgres@127.0.0.1/bench]   (default: SQLite)

Needs wrk (Debian package `wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LUA = r"""
counter = 0
local id = tostring(math.random(1, 1e9))
request = function()
  counter = counter + 1
  local body = string.format('{"tool":"%s","purpose":"clinical-care","study":{"study_key":"b-%s-%d","modality":"DX","body_part":"HAND","patient_age_years":9.5,"patient_sex":"M"}}', TOOL, id, counter)
  return wrk.format("POST", "/api/v1/decisions", {["Content-Type"]="application/json", ["Authorization"]="Bearer " .. TOKEN}, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def prepare(database_url: str, key_dir: Path) -> tuple[str, str]:
    """Migrate, seed the demo world, add a bench hospital with no quota cap; return (tool, token)."""
    from sqlalchemy.orm import sessionmaker

    from registry.auth.tokens import issue_gateway_token
    from registry.clock import SystemClock
    from registry.db.base import make_engine
    from registry.db.migrate import upgrade
    from registry.demo import seed_demo
    from registry.policy.engine import PolicyEngine
    from tests.factories import make_world

    engine = make_engine(database_url)
    upgrade(engine)
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    clock = SystemClock()
    seed_demo(session, clock=clock, engine=PolicyEngine.load())
    year = datetime.now(timezone.utc).year
    from datetime import date
    world = make_world(session, clock, quota_limit=None,
                       contract_term=(date(year, 1, 1), date(year, 12, 31)),
                       agreement_term=(date(year, 1, 1), None))
    token = issue_gateway_token(session, clock=clock, gateway=world.gateway,
                                scope="routing:decide", ttl=3600)
    session.commit()
    engine.dispose()
    return world.tool.slug, token.access_token


def serve(app_spec: str, env: dict, port: int, workers: int, threads: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--threads", str(threads), "--worker-class", "gthread", "--log-level", "warning", app_spec]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    wait_for(port)
    return proc


def run_wrk(port: int, script: Path, seconds: int, connections: int) -> dict:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    return {"rps": rps, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "p50": p50.group(1) if p50 else "?", "p99": p99.group(1) if p99 else "?"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    tool, token = prepare(url, tmp / "keys")
    script = tmp / "decide.lua"
    script.write_text(f'TOOL = "{tool}"\nTOKEN = "{token}"\n' + LUA)
    env = dict(os.environ, REGISTRY_DATABASE_URL=url, REGISTRY_SIGNING_KEY_DIR=str(tmp / "keys"),
               PYTHONPATH=str(ROOT))
    results = {}
    for name, spec in (("floor (minimal Flask JSON)", "bench.floor_app:create_floor_app()"),
                       ("registry POST /api/v1/decisions", "registry.app:create_app()")):
        port = free_port()
        proc = serve(spec, env, port, args.workers, args.threads)
        try:
            run_wrk(port, script, 2, args.connections)  # warm-up
            results[name] = run_wrk(port, script, args.seconds, args.connections)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    floor, reg = results.values()
    print(f"\nDecisions over HTTP, {args.workers} gunicorn workers x {args.threads} threads, "
          f"{args.connections} connections, {args.seconds}s, database {url.split(':')[0]}")
    print(f"{'endpoint':36} {'req/s':>9} {'p50':>9} {'p99':>9} {'non-2xx':>8}")
    for name, r in results.items():
        print(f"{name:36} {r['rps']:9.0f} {r['p50']:>9} {r['p99']:>9} {r['non_2xx']:8d}")
    print(f"registry / floor = {reg['rps'] / floor['rps']:.3f}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"decisions_http_{url.split(':')[0].split('+')[0]}.json").write_text(json.dumps(
        {"when": datetime.now(timezone.utc).isoformat(), "args": vars(args), "results": results,
         "ratio": reg["rps"] / floor["rps"]}, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
