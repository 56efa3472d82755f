"""usage_monthly on PostgreSQL: one trigger call per UPDATE statement on decisions, not one per row

A usage report confirms a thousand decisions in one UPDATE; the row trigger of 0011 then ran a
thousand times and appended a thousand +1 rows (about 15 us of PostgreSQL's time per event, by
EXPLAIN ANALYZE). This trigger runs once per statement over its transition tables and appends one
row per (licence, month, overage) with the sum of what moved: the same sums, so readers (which add
up ``studies``) and compaction are unchanged. A row that stays confirmed with the same key counts
-1 and +1, nothing; a key whose moves add up to zero appends no row.

SQLite has no statement triggers (and its own row triggers are cheap): unchanged there. The insert
and delete triggers stay per row: the decision path inserts one decision per statement, mostly
unconfirmed, which the row trigger's WHEN clause skips without calling any function.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 23:55:00
"""
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE FUNCTION usage_monthly_track_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_monthly (licence_id, month, overage, studies)
    SELECT licence_id, month, overage, sum(studies) FROM (
        SELECT licence_id, date_trunc('month', evaluated_on)::date AS month, overage, -1 AS studies
        FROM old_decisions WHERE reservation = 'confirmed' AND licence_id IS NOT NULL
        UNION ALL
        SELECT licence_id, date_trunc('month', evaluated_on)::date, overage, 1
        FROM new_decisions WHERE reservation = 'confirmed' AND licence_id IS NOT NULL
    ) AS moved
    GROUP BY licence_id, month, overage HAVING sum(studies) <> 0;
    RETURN NULL;
END $$
"""

# 0011's row trigger, as it was (for the downgrade).
OLD_CONFIRMED = "OLD.reservation = 'confirmed' AND OLD.licence_id IS NOT NULL"
NEW_CONFIRMED = "NEW.reservation = 'confirmed' AND NEW.licence_id IS NOT NULL"
MOVED = ("(OLD.reservation IS DISTINCT FROM NEW.reservation OR OLD.licence_id IS DISTINCT FROM NEW.licence_id"
         " OR OLD.evaluated_on IS DISTINCT FROM NEW.evaluated_on OR OLD.overage IS DISTINCT FROM NEW.overage)")
ROW_TRIGGER = (f"CREATE TRIGGER usage_monthly_update AFTER UPDATE ON decisions FOR EACH ROW WHEN ({MOVED} AND "
               f"(({OLD_CONFIRMED}) OR ({NEW_CONFIRMED}))) EXECUTE FUNCTION usage_monthly_track()")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # In one transaction with the migration: no update of decisions goes uncounted in between.
    op.execute("DROP TRIGGER usage_monthly_update ON decisions")
    op.execute(PG_FUNCTION)
    op.execute("CREATE TRIGGER usage_monthly_update AFTER UPDATE ON decisions "
               "REFERENCING OLD TABLE AS old_decisions NEW TABLE AS new_decisions "
               "FOR EACH STATEMENT EXECUTE FUNCTION usage_monthly_track_update()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER usage_monthly_update ON decisions")
    op.execute("DROP FUNCTION usage_monthly_track_update()")
    op.execute(ROW_TRIGGER)
