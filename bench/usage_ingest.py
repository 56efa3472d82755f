"""Usage ingestion: events/s through POST /api/v1/usage, in batches of 1,000, under the production
server (`gunicorn`, gthread), on a fresh database with that many open reservations.

    .venv/bin/python bench/usage_ingest.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench_usage \\
        [--events 20000] [--batch 1000] [--clients 2] [--label after]

The reservations (permit decisions) are inserted directly, so only the reporting is timed. Every
event completes one reservation; after the run the database is asked how many are confirmed and
how many usage events point at them (`confirmed`, `usage_events` in the result; a warning on
stderr unless both equal the events sent and accepted). Results as JSON in
bench/results/usage_ingest_<db>[_<label>].json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.decisions_http import free_port, prepare, serve  # noqa: E402


def reservations(database_url: str, tool: str, n: int) -> list[str]:
    """n permits that reserved a unit (Core bulk insert, as the decision path would leave them)."""
    from sqlalchemy import insert, select

    from registry.db.base import make_engine
    from registry.db.contracts import Licence
    from registry.db.decisions import Decision
    from registry.db.tools import Tool

    engine = make_engine(database_url)
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        lic = conn.execute(select(Licence).join(Tool, Tool.id == Licence.tool_id).where(Tool.slug == tool)).first()
        ids = [str(uuid.uuid4()) for _ in range(n)]
        conn.execute(insert(Decision), [{
            "id": i, "decided_at": now, "kind": "decide", "outcome": "permit", "evaluated_on": now.date(),
            "hospital_id": lic.hospital_id, "actor": "bench", "tool_slug": tool, "purpose": "clinical-care",
            "study_key": f"u-{i}", "idempotency_key": i.replace("-", "") + "0" * 32, "policy_version": "bench",
            "licence_id": lic.id, "quota_window_start": lic.starts_on, "reservation": "reserved"} for i in ids])
    engine.dispose()
    return ids


def counted(database_url: str, ids: list[str]) -> dict[str, int]:
    """What the database holds for the benchmark's reservations after the run: how many are
    confirmed, and how many usage events point at them (each should be one per reservation)."""
    from sqlalchemy import func, select

    from registry.db.base import make_engine
    from registry.db.decisions import Decision, UsageEvent

    engine = make_engine(database_url)
    with engine.connect() as conn:
        confirmed = sum(conn.scalar(select(func.count()).select_from(Decision).where(
            Decision.id.in_(ids[n:n + 5000]), Decision.reservation == "confirmed")) for n in range(0, len(ids), 5000))
        events = sum(conn.scalar(select(func.count()).select_from(UsageEvent).where(
            UsageEvent.decision_id.in_(ids[n:n + 5000]))) for n in range(0, len(ids), 5000))
    engine.dispose()
    return {"confirmed": confirmed, "usage_events": events}


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) so far of this machine's processes, by pid: read before and
    after the measured phase to tell how much of it the server, PostgreSQL and the client took."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[f"{pid} {cmd}"] = (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_split(before: dict[str, float], after: dict[str, float], server_pids: set[int]) -> dict[str, float]:
    """What each kind of process spent between two readings of :func:`cpu_seconds`."""
    split = {"server": 0.0, "postgres": 0.0, "client": 0.0, "other": 0.0}
    for key, seconds in after.items():
        pid, cmd = key.split(" ", 1)
        spent = seconds - before.get(key, 0.0)
        if int(pid) in server_pids:
            split["server"] += spent
        elif cmd.startswith("postgres"):
            split["postgres"] += spent
        elif int(pid) == os.getpid():
            split["client"] += spent
        else:
            split["other"] += spent
    return {k: round(v, 2) for k, v in split.items()}


def settled_workers(proc: subprocess.Popen, workers: int, timeout: float = 60) -> set[int]:
    """gunicorn's master and its workers once every worker has booted and gone idle (its CPU time
    unchanged for half a second), so that importing the application is not counted as reporting."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        pids = {proc.pid, *(int(c) for c in children.read_text().split())}
        now = {k: v for k, v in cpu_seconds().items() if int(k.split(" ", 1)[0]) in pids}
        if len(pids) == workers + 1 and now == last:
            return pids
        last = now
        time.sleep(0.5)
    raise RuntimeError("the server's workers did not settle")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-usage-"))
    tool, token = prepare(args.database_url, tmp / "keys", scope="usage:report")
    ids = reservations(args.database_url, tool, args.events)
    at = datetime.now(timezone.utc).isoformat()
    batches = [[{"event_id": f"e-{i}", "decision_id": i, "outcome": "completed", "occurred_at": at}
                for i in ids[n:n + args.batch]] for n in range(0, len(ids), args.batch)]
    env = dict(os.environ, REGISTRY_DATABASE_URL=args.database_url, REGISTRY_SIGNING_KEY_DIR=str(tmp / "keys"),
               PYTHONPATH=str(ROOT))
    port = free_port()
    proc = serve("registry.app:create_app()", env, port, args.workers, args.threads)
    accepted, lock, errors = [0], threading.Lock(), []

    def client(mine: list) -> None:
        http = requests.Session()
        for batch in mine:
            r = http.post(f"http://127.0.0.1:{port}/api/v1/usage", json={"events": batch},
                          headers={"Authorization": f"Bearer {token}"}, timeout=120)
            if r.status_code != 200:
                errors.append(r.status_code)
                continue
            with lock:
                accepted[0] += r.json()["accepted"]

    threads = [threading.Thread(target=client, args=(batches[k::args.clients],)) for k in range(args.clients)]
    try:
        pids = settled_workers(proc, args.workers)
        cpu_before = cpu_seconds()
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        split = cpu_split(cpu_before, cpu_seconds(), pids)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    stored = counted(args.database_url, ids)
    kind = args.database_url.split(":")[0].split("+")[0]
    result = {"when": datetime.now(timezone.utc).isoformat(), "database": kind, "events": args.events,
              "batch": args.batch, "clients": args.clients, "workers": args.workers, "threads": args.threads,
              "accepted": accepted[0], **stored, "errors": errors, "seconds": elapsed,
              "events_per_second": accepted[0] / elapsed,
              "cpu_seconds": split, "cpu_us_per_event": {k: round(v * 1e6 / max(accepted[0], 1))
                                                         for k, v in split.items()},
              "cores": os.cpu_count(), "load_avg": os.getloadavg()}
    print(json.dumps(result, indent=2))
    if not accepted[0] == stored["confirmed"] == stored["usage_events"] == args.events:
        print(f"NOT COUNTED ONCE: {args.events} events sent, {accepted[0]} accepted, {stored}", file=sys.stderr)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"usage_ingest_{kind}{'_' + args.label if args.label else ''}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
