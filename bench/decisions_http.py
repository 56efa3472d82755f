"""Decisions per second over HTTP under the production server, next to the floor.

Runs, in one go and on this machine: the registry (gunicorn, gthread) on a fresh database with
the demo world, and a minimal Flask JSON endpoint served the same way; wrk drives both with the
same decision body (a new study_key every request -- run, wrk thread and request number -- so
every request is a real permit that reserves quota and writes a decision and an audit entry).
The floor is measured before and after the registry. Prints requests/s, latency, the ratio and
the number of distinct decisions stored against the requests sent; writes the figures as JSON
to bench/results/decisions_http_<db>[_<label>].json.

    .venv/bin/python bench/decisions_http.py [--seconds 10] [--connections 16] [--label after]
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
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Every wrk thread runs its own Lua state: a key drawn from math.random at the top of the script
# is the same in every thread (same unseeded sequence), so the threads would replay each other's
# permits. setup() numbers the threads instead, and RUN separates the warm-up from the measured run;
# done() prints the figures as JSON so that nothing is parsed out of wrk's human output.
LUA = r"""
local next_id = 1
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end
function init(args)
  n = 0
end
request = function()
  n = n + 1
  local body = string.format('{"tool":"%s","purpose":"clinical-care","study":{"study_key":"b-%s-%d-%d","modality":"DX","body_part":"HAND","patient_age_years":9.5,"patient_sex":"M"}}', TOOL, RUN, tid, n)
  return wrk.format("POST", "/api/v1/decisions", {["Content-Type"]="application/json", ["Authorization"]="Bearer " .. TOKEN}, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
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


def serve(app_spec: str, env: dict, port: int, workers: int, threads: int,
          worker_class: str = "gthread") -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--threads", str(threads), "--worker-class", worker_class, "--log-level", "warning", app_spec]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    wait_for(port)
    return proc


def run_wrk(port: int, script: Path, seconds: int, connections: int, threads: int) -> dict:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    result = json.loads(line.removeprefix("WRKJSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def count_decisions(database_url: str, run: str) -> dict:
    """What the server stored for one run: decisions, distinct study keys, permits, replays.

    ``distinct_decisions`` below ``requests`` means requests were replays of stored permits (the
    cheap path) and the figure does not measure what it claims to."""
    from sqlalchemy import func, select

    from registry.db.audit import AuditEntry
    from registry.db.base import make_engine
    from registry.db.decisions import Decision

    engine = make_engine(database_url)
    like = f"b-{run}-%"
    with engine.connect() as conn:
        total, distinct, permits = conn.execute(select(
            func.count(), func.count(Decision.study_key.distinct()),
            func.count().filter(Decision.outcome == "permit")).where(Decision.study_key.like(like))).one()
        replays = conn.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.event_type == "decision-replay",
                                     AuditEntry.object_id.in_(select(Decision.id).where(
                                         Decision.study_key.like(like)))))
    engine.dispose()
    return {"decisions": total, "distinct_decisions": distinct, "permits": permits, "replays": replays}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--label", default="", help="suffix of the result file, e.g. before/after")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    tool, token = prepare(url, tmp / "keys")
    env = dict(os.environ, REGISTRY_DATABASE_URL=url, REGISTRY_SIGNING_KEY_DIR=str(tmp / "keys"),
               PYTHONPATH=str(ROOT))
    stamp = uuid.uuid4().hex[:8]

    def script(run: str) -> Path:
        path = tmp / f"decide-{run}.lua"
        path.write_text(f'TOOL = "{tool}"\nTOKEN = "{token}"\nRUN = "{run}"\n' + LUA)
        return path

    def measure(spec: str, name: str) -> dict:
        port = free_port()
        proc = serve(spec, env, port, args.workers, args.threads, args.worker_class)
        try:
            run_wrk(port, script(f"{stamp}{name}w"), 2, args.connections, args.wrk_threads)  # warm-up
            run = f"{stamp}{name}"
            result = run_wrk(port, script(run), args.seconds, args.connections, args.wrk_threads)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        if spec.startswith("registry"):
            result.update(count_decisions(url, run))
        return result

    # The machine is shared and noisy: the floor is measured before and after the registry.
    results = {"floor_before": measure("bench.floor_app:create_floor_app()", "f1"),
               "registry": measure("registry.app:create_app()", "r"),
               "floor_after": measure("bench.floor_app:create_floor_app()", "f2")}
    floor = (results["floor_before"]["rps"] + results["floor_after"]["rps"]) / 2
    reg = results["registry"]
    kind = url.split(":")[0].split("+")[0]
    print(f"\nDecisions over HTTP, {args.workers} gunicorn {args.worker_class} workers x {args.threads} "
          f"threads, {args.connections} connections, {args.seconds}s, database {kind}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"{'endpoint':14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'distinct':>9}")
    for name, r in results.items():
        print(f"{name:14} {r['rps']:9.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['non_2xx']:8d} "
              f"{r.get('distinct_decisions', '-'):>9}")
    print(f"registry / floor = {reg['rps'] / floor:.3f}; distinct decisions {reg['distinct_decisions']} "
          f"of {reg['requests']} requests ({reg['replays']} replays)")
    # wrk counts only the answers it read before it stopped: a few more decisions than requests
    # (those in flight at the end) is expected; fewer means replays were measured.
    if reg["distinct_decisions"] < reg["requests"] - reg["non_2xx"]:
        print("WARNING: fewer distinct decisions than answered requests: replays were measured")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    name = f"decisions_http_{kind}{'_' + args.label if args.label else ''}.json"
    (out / name).write_text(json.dumps(
        {"when": datetime.now(timezone.utc).isoformat(), "args": vars(args), "cores": os.cpu_count(),
         "load_avg_after": os.getloadavg(), "results": results,
         "ratio": reg["rps"] / floor}, indent=2) + "\n")
    print(f"results in {out / name}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
