"""partitioned audit chains: one hash chain per sitting plus the global chain

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:00:00

Every event used to extend one global chain, so on PostgreSQL every answer of every learner
queued on one advisory lock. Events now carry the chain they extend and their position in it;
the unique (chain, chain_seq) pair means two concurrent appends can never fork a chain.

Existing rows form the global chain in id order (their prev_hash links already follow that order),
so they verify unchanged.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('chain_seq', sa.Integer(), nullable=True))

    # One pass with a window function (PostgreSQL, SQLite >= 3.33 for UPDATE ... FROM); a correlated
    # COUNT(*) per row would be quadratic on a large trail.
    op.execute(sa.text(
        "UPDATE audit_events SET chain = 'global', chain_seq = numbered.n"
        " FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM audit_events) AS numbered"
        " WHERE numbered.id = audit_events.id"
    ))

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('chain', existing_type=sa.String(length=120), nullable=False)
        batch_op.alter_column('chain_seq', existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_chain_chain_seq'), ['chain', 'chain_seq'])


def downgrade() -> None:
    # The per-sitting chains cannot be folded back into one chain; downgrading keeps the rows but
    # a database with sitting chains will no longer verify under the old single-chain check.
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_events_chain_chain_seq'), type_='unique')
        batch_op.drop_column('chain_seq')
        batch_op.drop_column('chain')
