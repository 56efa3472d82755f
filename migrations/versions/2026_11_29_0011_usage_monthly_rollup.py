"""usage_monthly: completed studies per licence, month and overage, kept by triggers on decisions

Statements and cost allocations read this rollup instead of counting the decisions (issue 10: a
year of ten million events). Triggers keep it exact in the same transaction as every change of a
decision's reservation, licence, day or overage flag, whatever code path makes it: each change
appends a +1 / -1 row (no shared row is updated, so concurrent usage reports neither queue nor
deadlock on it); registry.services.usage_rollup.compact folds them. Existing decisions are
counted into it here.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 22:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

CONFIRMED = "reservation = 'confirmed' AND licence_id IS NOT NULL"

PG_FUNCTION = """
CREATE FUNCTION usage_monthly_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.reservation = 'confirmed' AND OLD.licence_id IS NOT NULL THEN
        INSERT INTO usage_monthly (licence_id, month, overage, studies)
        VALUES (OLD.licence_id, date_trunc('month', OLD.evaluated_on)::date, OLD.overage, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.reservation = 'confirmed' AND NEW.licence_id IS NOT NULL THEN
        INSERT INTO usage_monthly (licence_id, month, overage, studies)
        VALUES (NEW.licence_id, date_trunc('month', NEW.evaluated_on)::date, NEW.overage, 1);
    END IF;
    RETURN NULL;
END $$
"""
# What changes a decision's place in the rollup; any other update (finalised_at, …) fires nothing.
MOVED = ("(OLD.reservation IS DISTINCT FROM NEW.reservation OR OLD.licence_id IS DISTINCT FROM NEW.licence_id"
         " OR OLD.evaluated_on IS DISTINCT FROM NEW.evaluated_on OR OLD.overage IS DISTINCT FROM NEW.overage)")
OLD_CONFIRMED = "OLD.reservation = 'confirmed' AND OLD.licence_id IS NOT NULL"
NEW_CONFIRMED = "NEW.reservation = 'confirmed' AND NEW.licence_id IS NOT NULL"
PG_TRIGGERS = {
    "usage_monthly_insert": f"AFTER INSERT ON decisions FOR EACH ROW WHEN ({NEW_CONFIRMED})",
    "usage_monthly_update": (f"AFTER UPDATE ON decisions FOR EACH ROW WHEN ({MOVED} AND "
                             f"(({OLD_CONFIRMED}) OR ({NEW_CONFIRMED})))"),
    "usage_monthly_delete": f"AFTER DELETE ON decisions FOR EACH ROW WHEN ({OLD_CONFIRMED})",
}


def _sqlite_row(side: str, studies: int) -> str:
    return (f"INSERT INTO usage_monthly (licence_id, month, overage, studies) VALUES ({side}.licence_id, "
            f"date({side}.evaluated_on, 'start of month'), {side}.overage, {studies});")


SQLITE_TRIGGERS = {
    "usage_monthly_insert": f"AFTER INSERT ON decisions WHEN {NEW_CONFIRMED} BEGIN {_sqlite_row('NEW', 1)} END",
    "usage_monthly_update_old": (f"AFTER UPDATE ON decisions WHEN {MOVED.replace('IS DISTINCT FROM', 'IS NOT')} "
                                 f"AND {OLD_CONFIRMED} BEGIN {_sqlite_row('OLD', -1)} END"),
    "usage_monthly_update_new": (f"AFTER UPDATE ON decisions WHEN {MOVED.replace('IS DISTINCT FROM', 'IS NOT')} "
                                 f"AND {NEW_CONFIRMED} BEGIN {_sqlite_row('NEW', 1)} END"),
    "usage_monthly_delete": f"AFTER DELETE ON decisions WHEN {OLD_CONFIRMED} BEGIN {_sqlite_row('OLD', -1)} END",
}


def upgrade() -> None:
    op.create_table(
        'usage_monthly',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('licence_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('overage', sa.Boolean(), nullable=False),
        sa.Column('studies', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['licence_id'], ['licences.id'], name=op.f('fk_usage_monthly_licence_id_licences')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_monthly')),
    )
    op.create_index('ix_usage_monthly_key', 'usage_monthly', ['licence_id', 'month', 'overage'])
    sqlite = op.get_bind().dialect.name == "sqlite"
    month = "date(evaluated_on, 'start of month')" if sqlite else "date_trunc('month', evaluated_on)::date"
    # Before the triggers exist: nothing can be counted twice (the migration runs in one transaction).
    op.execute(f"INSERT INTO usage_monthly (licence_id, month, overage, studies) "
               f"SELECT licence_id, {month}, overage, count(*) FROM decisions WHERE {CONFIRMED} "
               f"GROUP BY licence_id, {month}, overage")
    if sqlite:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    else:
        op.execute(PG_FUNCTION)
        for name, body in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body} EXECUTE FUNCTION usage_monthly_track()")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in (SQLITE_TRIGGERS if sqlite else PG_TRIGGERS):
        op.execute(f"DROP TRIGGER {name}" if sqlite else f"DROP TRIGGER {name} ON decisions")
    if not sqlite:
        op.execute("DROP FUNCTION usage_monthly_track()")
    op.drop_index('ix_usage_monthly_key', table_name='usage_monthly')
    op.drop_table('usage_monthly')
