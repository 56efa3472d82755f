"""Statements at national scale (issue 10): a year of usage for 70 hospitals × 10 tools, at least
10 million usage events, on PostgreSQL; times a hospital's monthly statement and the consortium's
quarterly statement rendered to PDF, and checks them against direct SQL counts of the events.

    .venv/bin/python bench/statements_10m.py \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/<fresh db> --events 10000000

The database must be empty: it is migrated (alembic upgrade head), the world is made through the
services (hospitals, vendors, tools, five framework contracts with tiers, fees, minimum commitments,
overage and indexation, 700 call-off licences), and the usage is generated **in the database**
(``INSERT … SELECT generate_series``, in chunks): one permit decision per event — a usage event must
name its decision — of which 97 % completed (billable) and 3 % failed; licences that allow overage
take their December studies beyond quota. The monthly rollup is kept by the database's triggers
as the rows go in (migration 0011) and folded once at the end, as the usage endpoint does after
each report; the run checks it against a recount of every decision. ``--reuse`` times an already generated database again
without generating. Results as JSON in bench/results/statements_10m_<db>[_<label>].json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOSPITALS, TOOLS, VENDORS = 70, 10, 5
CHUNK = 500_000
USE = {"modalities": ["CR", "DX", "CT", "MR"], "body_parts": ["HAND", "CHEST", "HEAD"]}
# What a stored permit carries besides its keys (a typical request, facts and reasons), so that the
# decisions table is as wide as in production and a scan of it costs what it would.
REQUEST = {"study": {"modality": "CT", "body_part": "CHEST", "sop_class": "1.2.840.10008.5.1.4.1.1.2",
                     "accession_pseudonym": "p-0f3a9c", "patient_age_years": 57}, "purpose": "clinical-care",
           "tool": "bench-tool", "gateway_time": "2025-01-01T08:00:00+00:00"}
FACTS = {"agreement": {"status": "signed", "purposes": ["clinical-care"]}, "licence": {"status": "active"},
         "tool_version": {"intended_use": True, "certificate_valid": True}, "objection": False,
         "deployment": "approved", "window": "2025-01-01"}
REASONS = [{"code": "permit", "message": "all conditions met"}]


def build_world(session, clock, year: int) -> None:  # noqa: ANN001
    """Organisations, tools, contracts and licences through the services (with their change records
    and audit entries); gateways and agreements as plain rows (their credentials do not matter here)."""
    from registry.actor import Actor
    from registry.db.agreements import DataProcessingAgreement
    from registry.db.organisations import Gateway
    from registry.services import contracts, organisations, terms_revision, tools

    kw = {"actor": Actor.system("bench"), "clock": clock}
    start, end = date(year, 1, 1), date(year, 12, 31)
    now = clock.now()
    hospitals = [organisations.create_organisation(session, **kw, kind="hospital", name=f"Bench hospital {i:02d}",
                                                   ura=f"{71000000 + i}") for i in range(HOSPITALS)]
    operator = organisations.create_organisation(session, **kw, kind="platform_operator", name="Bench operator")
    vendors = [organisations.create_organisation(session, **kw, kind="vendor", name=f"Bench vendor {i}")
               for i in range(VENDORS)]
    session.add_all([Gateway(hospital_id=h.id, name=f"gateway {h.name}", client_id=f"bench-gw-{h.ura}",
                             created_at=now) for h in hospitals])
    session.add_all([DataProcessingAgreement(reference=f"BENCH-DPA-{h.ura}", controller_id=h.id,
                                             processor_id=operator.id, purposes=["clinical-care"],
                                             status="signed", signed_on=start, effective_on=start, created_at=now)
                     for h in hospitals])
    made = []
    for i in range(TOOLS):
        tool = tools.create_tool(session, **kw, slug=f"bench-tool-{i}", name=f"Bench tool {i}",
                                 vendor_id=vendors[i // 2].id, operator_id=operator.id)
        tools.create_tool_version(session, **kw, tool_id=tool.id, version="1.0", intended_use=USE,
                                  certificate_expires_on=date(year + 3, 1, 1), is_default=True)
        made.append(tool)
    for v in range(VENDORS):
        pair = made[2 * v:2 * v + 2]
        # Every price rule of the schedule occurs: tiers on the consortium's volume, a fixed fee,
        # a minimum commitment, overage and an indexation on 1 July; split rules alternate.
        items = [{"tool_id": t.id, "unit_price_cents": 250 + 10 * v, "overage_price_cents": 400,
                  "annual_fee_cents": 1_200_000 + 100 * v, "minimum_commitment_cents": 5_000_000 * (v + 1),
                  "tiers": [{"from_studies": 100_000, "unit_price_cents": 200},
                            {"from_studies": 250_000, "unit_price_cents": 150}]} for t in pair]
        fw = contracts.create_contract(
            session, **kw, reference=f"BENCH-FW-{v}", title=f"Bench framework {v}", vendor_id=vendors[v].id,
            starts_on=start, ends_on=end, buyer_ids=[h.id for h in hospitals], tools=items,
            split_rule="pro_rata" if v % 2 else "equal", indexation_bp=250, indexation_on=date(year, 7, 1))
        for t in pair:
            overage = int(t.slug.rsplit("-", 1)[1]) % 2 == 0
            for h in hospitals:
                contracts.create_licence(
                    session, **kw, reference=f"BENCH-LIC-{t.slug[-1]}-{h.ura}", contract_id=fw.id,
                    hospital_id=h.id, tool_id=t.id, starts_on=start, ends_on=end,
                    quota_limit=None if not overage else 1_000_000, quota_period="year",
                    on_quota_exhausted="overage" if overage else "deny")
    terms_revision.bump(session)
    session.flush()


def generate_usage(conn, year: int, events: int) -> None:  # noqa: ANN001
    """``events`` permits and their usage events, in the database, chunk by chunk.

    Each event's hospital, tool, day and second come from the md5 of its number: hospitals differ
    in size (the hospital index is skewed, the largest about 6× the median), tools and days are
    uniform. Ids are ordered (``bench-…``) so that the primary-key index is appended to."""
    from sqlalchemy import text

    conn.execute(text("""
        CREATE TEMP TABLE bench_lic AS
        SELECT (row_number() OVER (ORDER BY o.ura, t.slug) - 1)::int AS n, l.id AS licence_id,
               l.hospital_id, g.id AS gateway_id, t.slug AS tool_slug, l.on_quota_exhausted = 'overage' AS over
        FROM licences l JOIN organisations o ON o.id = l.hospital_id JOIN tools t ON t.id = l.tool_id
        JOIN gateways g ON g.hospital_id = l.hospital_id"""))
    conn.execute(text("CREATE UNIQUE INDEX ON bench_lic (n)"))
    params = {"y0": date(year, 1, 1), "days": (date(year, 12, 31) - date(year, 1, 1)).days + 1,
              "request": json.dumps(REQUEST), "facts": json.dumps(FACTS), "reasons": json.dumps(REASONS),
              "h": HOSPITALS, "t": TOOLS}
    for lo in range(1, events + 1, CHUNK):
        hi = min(lo + CHUNK - 1, events)
        started = time.perf_counter()
        conn.execute(text("""
            INSERT INTO decisions (id, decided_at, kind, outcome, dry_run, evaluated_on, gateway_id, hospital_id,
                actor, tool_slug, tool_version_id, purpose, study_key, idempotency_key, reasons, obligations, refs,
                request, facts, rules, policy_version, licence_id, quota_window_start, overage, reservation,
                finalised_at)
            SELECT 'bench-' || lpad(g::text, 30, '0'), r.at, 'decide', 'permit', false, r.day, l.gateway_id,
                l.hospital_id, 'gateway:bench', l.tool_slug, NULL, 'clinical-care', 'study-' || g,
                'bench' || lpad(g::text, 59, '0'), CAST(:reasons AS json), '[]', '{}', CAST(:request AS json),
                CAST(:facts AS json), '["permit"]', 'bench', l.licence_id, :y0, l.over AND r.day >= :y0 + 334,
                CASE WHEN r.fail THEN 'released' ELSE 'confirmed' END, r.at + interval '5 minutes'
            FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) g
            CROSS JOIN LATERAL (SELECT md5(g::text) AS m) h
            CROSS JOIN LATERAL (SELECT
                floor(:h * power(('x' || substr(h.m, 1, 8))::bit(32)::bigint / 4294967296.0, 1.6))::int AS hi,
                (('x' || substr(h.m, 9, 8))::bit(32)::bigint % :t)::int AS ti,
                CAST(:y0 AS date) + (('x' || substr(h.m, 17, 8))::bit(32)::bigint % :days)::int AS day,
                ('x' || substr(h.m, 25, 6))::bit(24)::int % 50400 AS sec,
                ('x' || substr(h.m, 31, 2))::bit(8)::int < 8 AS fail) x
            CROSS JOIN LATERAL (SELECT x.day, x.fail,
                (x.day + time '06:00' + make_interval(secs => x.sec)) AT TIME ZONE 'UTC' AS at) r
            JOIN bench_lic l ON l.n = x.hi * :t + x.ti
            """), {**params, "lo": lo, "hi": hi})
        conn.execute(text("""
            INSERT INTO usage_events (event_id, hospital_id, gateway_id, decision_id, outcome, occurred_at,
                                      received_at)
            SELECT 'ev-' || substr(d.id, 7), d.hospital_id, d.gateway_id, d.id,
                   CASE WHEN d.reservation = 'confirmed' THEN 'completed' ELSE 'failed' END,
                   d.finalised_at - interval '1 minute', d.finalised_at
            FROM decisions d
            WHERE d.id BETWEEN 'bench-' || lpad(CAST(:lo AS text), 30, '0')
                           AND 'bench-' || lpad(CAST(:hi AS text), 30, '0')
            """), {"lo": lo, "hi": hi})
        conn.commit()
        print(f"  events {lo:,}–{hi:,} in {time.perf_counter() - started:.1f} s", flush=True)
    # The quota counters as the decision path leaves them (used = reserved + confirmed), and the
    # quota of an overage licence set to what it used before December, so December is beyond it.
    conn.execute(text("""
        INSERT INTO quota_counters (licence_id, window_start, window_end, used)
        SELECT licence_id, quota_window_start, CAST(:y1 AS date), count(*) FROM decisions
        WHERE reservation IN ('reserved', 'confirmed') AND licence_id IS NOT NULL
        GROUP BY licence_id, quota_window_start"""), {"y1": date(year, 12, 31)})
    conn.execute(text("""
        UPDATE licences l SET quota_limit = c.n FROM (
            SELECT licence_id, count(*) AS n FROM decisions WHERE reservation = 'confirmed' AND NOT overage
            GROUP BY licence_id) c
        WHERE c.licence_id = l.id AND l.on_quota_exhausted = 'overage'"""))
    conn.commit()


def timed(fn, repeat: int) -> tuple[list[tuple[float, float]], object]:  # noqa: ANN001
    """(wall, CPU of this process) seconds of each of ``repeat`` calls, and the last result. On a
    shared machine the wall time includes waiting for a core; the CPU time does not (nor the
    database server's work, which runs in another process)."""
    times, result = [], None
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - started, time.process_time() - cpu))
    return times, result


def summary(times: list[tuple[float, float]]) -> dict:
    wall = [w for w, _ in times]
    return {"runs": len(times), "min_s": round(min(wall), 4), "median_s": round(statistics.median(wall), 4),
            "max_s": round(max(wall), 4), "all_s": [round(t, 4) for t in wall],
            "median_cpu_s": round(statistics.median(c for _, c in times), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="an empty PostgreSQL database (SQLAlchemy URL)")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--month", default=None, help="the hospital's month (default <year>-03)")
    parser.add_argument("--quarter", default=None, help="the consortium's quarter (default <year>-Q4)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="time an already generated database")
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    from sqlalchemy import inspect, text
    from sqlalchemy.orm import sessionmaker

    from registry.actor import Actor
    from registry.clock import SystemClock
    from registry.db.base import make_engine
    from registry.db.migrate import upgrade
    from registry.reports.statements import build_statement, to_pdf
    try:
        from registry.services import usage_rollup
    except ImportError:  # a checkout from before the rollup (migration 0011), timed for comparison
        usage_rollup = None

    engine = make_engine(args.database)
    result: dict = {"when": datetime.now(timezone.utc).isoformat(), "database": engine.dialect.name,
                    "events_requested": args.events, "year": args.year, "cores": os.cpu_count()}
    if not args.reuse:
        if inspect(engine).get_table_names():
            sys.exit("the database is not empty: give a fresh one (or --reuse to time it again)")
        started = time.perf_counter()
        upgrade(engine)
        session = sessionmaker(bind=engine, expire_on_commit=False)()
        build_world(session, SystemClock(), args.year)
        session.commit()
        session.close()
        print(f"world made in {time.perf_counter() - started:.1f} s; generating {args.events:,} events",
              flush=True)
        started = time.perf_counter()
        result["load_avg_before_generation"] = os.getloadavg()
        with engine.connect() as conn:
            generate_usage(conn, args.year, args.events)
        result["generation_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        with sessionmaker(bind=engine)() as session:
            if usage_rollup is None:
                sys.exit("generate with the rollup (migration 0011); time older checkouts with --reuse")
            # The triggers appended a rollup row per completed study; fold them, as the usage
            # endpoint's sweep does after every report.
            result["rollup_rows_folded"] = usage_rollup.compact(session)
            session.commit()
        result["compaction_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))  # what autovacuum would do after a bulk load
        result["vacuum_analyze_s"] = round(time.perf_counter() - started, 1)
        print(f"generated in {result['generation_s']} s, vacuumed in {result['vacuum_analyze_s']} s", flush=True)

    with engine.connect() as conn:
        result["usage_events"] = conn.scalar(text("SELECT count(*) FROM usage_events"))
        result["decisions"] = conn.scalar(text("SELECT count(*) FROM decisions"))
        result["sizes"] = {t: conn.scalar(text(f"SELECT pg_size_pretty(pg_total_relation_size('{t}'))"))
                           for t in ("decisions", "usage_events")} if engine.dialect.name == "postgresql" else {}
        # The hospital with the most usage: the worst case for its monthly statement.
        ura = conn.scalar(text("""SELECT o.ura FROM decisions d JOIN organisations o ON o.id = d.hospital_id
                                  WHERE d.evaluated_on BETWEEN :a AND :b
                                  GROUP BY o.ura ORDER BY count(*) DESC LIMIT 1"""),
                          {"a": date(args.year, 1, 1), "b": date(args.year, 1, 31)})
    month = args.month or f"{args.year}-03"
    quarter = args.quarter or f"{args.year}-Q4"
    actor = Actor.system("bench")
    Session = sessionmaker(bind=engine, expire_on_commit=False)

    def statement(period: str, hospital: str | None):  # noqa: ANN202
        with Session() as session:
            return build_statement(session, actor=actor, period=period, hospital_ura=hospital)

    result["load_avg_before_timing"] = os.getloadavg()
    monthly_times, monthly = timed(lambda: statement(month, ura), args.repeat)
    quarter_times, quarterly = timed(lambda: statement(quarter, None), args.repeat)
    pdf_times, pdf = timed(lambda: to_pdf(quarterly), args.repeat)
    both_times, _ = timed(lambda: to_pdf(statement(quarter, None)), args.repeat)
    result["load_avg_after_timing"] = os.getloadavg()
    result["hospital_monthly_statement"] = {"hospital_ura": ura, "period": month, **summary(monthly_times),
                                            "lines": len(monthly.lines), "total_cents": monthly.total_cents}
    result["consortium_quarterly_statement"] = {"period": quarter, **summary(quarter_times),
                                                "lines": len(quarterly.lines), "total_cents": quarterly.total_cents}
    result["consortium_quarterly_pdf_render_only"] = {**summary(pdf_times), "bytes": len(pdf)}
    result["consortium_quarterly_pdf"] = summary(both_times)

    # Exactness: the studies the statements count are the completed usage events, counted directly.
    def completed(period_start: date, period_end: date, ura: str | None) -> int:
        with engine.connect() as conn:
            return conn.scalar(text("""
                SELECT count(*) FROM usage_events e JOIN decisions d ON d.id = e.decision_id
                JOIN organisations o ON o.id = d.hospital_id
                WHERE e.outcome = 'completed' AND d.evaluated_on BETWEEN :a AND :b
                  AND (CAST(:ura AS text) IS NULL OR o.ura = :ura)"""), {"a": period_start, "b": period_end, "ura": ura})

    checks = {
        "monthly_studies": [sum(n for _, n in monthly.usage), completed(monthly.starts_on, monthly.ends_on, ura)],
        "quarterly_studies": [sum(n for _, n in quarterly.usage),
                              completed(quarterly.starts_on, quarterly.ends_on, None)],
        # The consortium's total is every hospital's lines added up (allocation to the cent).
        "quarterly_total_cents": [quarterly.total_cents, sum(line.amount_cents for line in quarterly.lines)],
    }
    result["exactness"] = {k: {"statement": a, "sql": b, "equal": a == b} for k, (a, b) in checks.items()}
    with sessionmaker(bind=engine)() as session:
        if usage_rollup is None:
            _write(result, engine, args.label)
            return
        started = time.perf_counter()
        # The whole rollup against a recount of every decision (one pass over the table).
        diff = usage_rollup.differences(session)
        result["rollup"] = {"rows": session.scalar(text("SELECT count(*) FROM usage_monthly")),
                            "keys_differing_from_decisions": len(diff),
                            "recount_s": round(time.perf_counter() - started, 1)}
        result["exactness"]["rollup_equals_decisions"] = {"statement": len(diff), "sql": 0, "equal": not diff}
    _write(result, engine, args.label)


def _write(result: dict, engine, label: str) -> None:  # noqa: ANN001
    result["targets"] = {"hospital_monthly_le_1s": result["hospital_monthly_statement"]["median_s"] <= 1.0,
                         "consortium_quarterly_pdf_le_5s": result["consortium_quarterly_pdf"]["median_s"] <= 5.0}
    print(json.dumps(result, indent=2, default=str))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    name = f"statements_10m_{engine.dialect.name}{'_' + label if label else ''}.json"
    (out / name).write_text(json.dumps(result, indent=2, default=str) + "\n")
    engine.dispose()
    if not all(v["equal"] for v in result["exactness"].values()):
        sys.exit("the statements do not agree with the events")


if __name__ == "__main__":
    main()
