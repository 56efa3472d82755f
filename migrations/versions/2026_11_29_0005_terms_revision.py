"""terms revision: one counter bumped with every change of terms

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 17:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'terms_revision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('revision', sa.BigInteger(), nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_terms_revision_single_row')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_terms_revision')),
    )
    # The one row every bump updates; it must exist before the first change of terms.
    op.bulk_insert(table, [{'id': 1, 'revision': 0}])


def downgrade() -> None:
    op.drop_table('terms_revision')
