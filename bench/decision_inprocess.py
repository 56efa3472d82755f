"""In-process cost of one decision: the whole request (token check, snapshot, Cedar, quota,
decision and audit rows, commit, signed answer) through Flask's test client on a SQLite file,
with the number of SQL statements per decision. Optionally on a generated large registry.

    .venv/bin/python bench/decision_inprocess.py [--decisions 2000] [--large] [--profile out.prof]
        [--database-url postgresql+psycopg://postgres@127.0.0.1/bench_inproc] [--wsgi]

--wsgi calls the WSGI application itself with each request's environ built before the measured
loop, as a server hands it over, and checks the answers after it: the registry's own cost,
without the test client's (building the request, its cookie jar, wrapping the response; about a
seventh of a decision through it: 5.82 against 5.01 M instructions by callgrind).

--large adds 500 hospitals, 300 tools and 20,000 licences (with their contracts and agreements)
before measuring. Results as JSON in bench/results/decision_inprocess_<db>[_large][_<label>].json.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402


def build(database_url: str, large: bool):
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
    session.commit()
    if large:
        from bench.large_registry import generate

        generate(session, clock)
        session.commit()
    year = datetime.now(timezone.utc).year
    world = make_world(session, clock, quota_limit=10_000_000,
                       contract_term=(date(year, 1, 1), date(year, 12, 31)),
                       agreement_term=(date(year, 1, 1), None))
    token = issue_gateway_token(session, clock=clock, gateway=world.gateway,
                                scope="routing:decide", ttl=3600)
    session.commit()
    session.close()
    return engine, world.tool.slug, token.access_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--profile", default=None, help="write a cProfile of the measured loop here")
    parser.add_argument("--label", default="")
    parser.add_argument("--wsgi", action="store_true",
                        help="measure the WSGI application without Flask's test client")
    parser.add_argument("--callgrind", action="store_true",
                        help="under `valgrind --tool=callgrind --instr-atstart=no`: count instructions "
                             "of the measured loop only (steady on a shared machine, unlike time)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-inproc-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    engine, tool, token = build(url, args.large)
    from registry.app import create_app
    from registry.settings import Settings

    settings = Settings(environment="development", database_url=url, signing_key_dir=tmp / "keys")
    app = create_app(settings, engine=engine)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    statements = [0]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))

    def body(n: int) -> dict:
        return {"tool": tool, "purpose": "clinical-care",
                "study": {"study_key": f"inproc-{n}", "modality": "DX", "body_part": "HAND",
                          "patient_age_years": 9.5, "patient_sex": "M"}}

    for n in range(200):  # warm-up: caches, statement compilation, first key load
        assert client.post("/api/v1/decisions", json=body(-n - 1), headers=headers).json["decision"] == "permit"
    statements[0] = 0
    environs = [_environ(body(n), headers) for n in range(args.decisions)] if args.wsgi else []
    profiler = cProfile.Profile() if args.profile else None
    start, cpu_start = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    if args.callgrind:
        subprocess.run(["callgrind_control", "--instr=on", str(os.getpid())], check=True,
                       capture_output=True)
    if args.wsgi:
        answers = _through_wsgi(app, environs)
    else:
        for n in range(args.decisions):
            answer = client.post("/api/v1/decisions", json=body(n), headers=headers)
            assert answer.status_code == 200 and answer.json["decision"] == "permit", answer.json
    if args.callgrind:
        subprocess.run(["callgrind_control", "--instr=off", str(os.getpid())], check=True,
                       capture_output=True)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if args.wsgi:  # checked after the clock stopped: the client's work, not the registry's
        for status, raw in answers:
            assert status.startswith("200") and json.loads(raw)["decision"] == "permit", raw
    kind = url.split(":")[0].split("+")[0]
    result = {"when": datetime.now(timezone.utc).isoformat(), "database": kind, "large": args.large,
              "decisions": args.decisions, "through": "wsgi" if args.wsgi else "test client",
              "ms_per_decision": elapsed * 1000 / args.decisions,
              # CPU time of this process: on a shared, loaded machine far steadier than wall time.
              "cpu_ms_per_decision": cpu * 1000 / args.decisions,
              "statements_per_decision": statements[0] / args.decisions,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "cores": os.cpu_count(), "load_avg": os.getloadavg()}
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    name = f"decision_inprocess_{kind}{'_large' if args.large else ''}{'_' + args.label if args.label else ''}.json"
    (out / name).write_text(json.dumps(result, indent=2) + "\n")
    engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)


def _environ(body: dict, headers: dict, path: str = "/api/v1/decisions") -> dict:
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(path=path, method="POST", json=body, headers=headers,
                             environ_base={"REMOTE_ADDR": "127.0.0.1"})
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _through_wsgi(app, environs: list[dict]) -> list[tuple[str, bytes]]:  # noqa: ANN001
    answers = []
    for environ in environs:
        status = []
        chunks = app(environ, lambda s, _h, _e=None: status.append(s))
        try:
            raw = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        answers.append((status[0], raw))
    return answers


if __name__ == "__main__":
    main()
