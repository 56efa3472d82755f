"""Usage ingestion in one process: the CPU a usage report of 1,000 events costs the registry
(its Python and the database driver), without HTTP, gunicorn or a client beside it, and what
PostgreSQL spent on it meanwhile. Steadier than events/s on a shared machine; aims a change at the
side that costs.

    .venv/bin/python bench/usage_inprocess.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench_usage \\
        [--events 20000] [--batch 1000] [--profile out.prof] [--label after]

Runs on a fresh database (create it first); results as JSON in
bench/results/usage_inprocess_<db>[_<label>].json.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USAGE = "/api/v1/usage"
sys.path.insert(0, str(ROOT))

from bench.decisions_http import prepare  # noqa: E402
from bench.usage_ingest import cpu_seconds, reservations  # noqa: E402
from bench.decision_inprocess import _environ, _through_wsgi  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--profile", default=None, help="write a cProfile of the measured loop here")
    parser.add_argument("--label", default="")
    parser.add_argument("--callgrind", action="store_true",
                        help="under `valgrind --tool=callgrind --instr-atstart=no`: count the registry's "
                             "instructions in the measured loop only (steady on a shared machine)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-usage-inproc-"))
    tool, token = prepare(args.database_url, tmp / "keys", scope="usage:report")
    warm = reservations(args.database_url, tool, args.batch)
    ids = reservations(args.database_url, tool, args.events)
    at = datetime.now(timezone.utc).isoformat()
    headers = {"Authorization": f"Bearer {token}"}

    def body(chunk: list[str]) -> dict:
        return {"events": [{"event_id": f"e-{i}", "decision_id": i, "outcome": "completed",
                            "occurred_at": at} for i in chunk]}

    from registry.app import create_app
    from registry.db.base import make_engine
    from registry.settings import Settings

    engine = make_engine(args.database_url)
    app = create_app(Settings(environment="development", database_url=args.database_url,
                              signing_key_dir=tmp / "keys"), engine=engine)
    for status, raw in _through_wsgi(app, [_environ(body(warm), headers, USAGE)]):  # warm-up
        assert status.startswith("200") and json.loads(raw)["accepted"] == len(warm), raw
    environs = [_environ(body(ids[n:n + args.batch]), headers, USAGE) for n in range(0, len(ids), args.batch)]
    profiler = cProfile.Profile() if args.profile else None
    before = cpu_seconds()
    start, cpu_start = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    if args.callgrind:
        subprocess.run(["callgrind_control", "--instr=on", str(os.getpid())], check=True, capture_output=True)
    answers = _through_wsgi(app, environs)
    if args.callgrind:
        subprocess.run(["callgrind_control", "--instr=off", str(os.getpid())], check=True, capture_output=True)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    after = cpu_seconds()
    postgres = sum(t - before.get(k, 0.0) for k, t in after.items() if k.split(" ", 1)[1].startswith("postgres"))
    accepted = 0
    for status, raw in answers:  # checked after the clock stopped
        assert status.startswith("200"), raw
        accepted += json.loads(raw)["accepted"]
    assert accepted == len(ids), accepted
    kind = args.database_url.split(":")[0].split("+")[0]
    result = {"when": datetime.now(timezone.utc).isoformat(), "database": kind, "events": args.events,
              "batch": args.batch, "accepted": accepted,
              "registry_cpu_us_per_event": round(cpu * 1e6 / accepted, 1),
              "postgres_cpu_us_per_event": round(postgres * 1e6 / accepted, 1) if kind == "postgresql" else None,
              "wall_us_per_event": round(elapsed * 1e6 / accepted, 1),
              "cores": os.cpu_count(), "load_avg": os.getloadavg()}
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"usage_inprocess_{kind}{'_' + args.label if args.label else ''}.json").write_text(
        json.dumps(result, indent=2) + "\n")
    engine.dispose()


if __name__ == "__main__":
    main()
