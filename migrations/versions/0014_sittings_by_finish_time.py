"""sittings by finish time, for the console's monthly trend

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 01:20:00
"""
from __future__ import annotations

from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('exam_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_exam_sessions_by_finish', ['finished_at'], unique=False,
                              postgresql_include=['state', 'decision', 'candidate_id'])


def downgrade() -> None:
    with op.batch_alter_table('exam_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_exam_sessions_by_finish', postgresql_include=['state', 'decision', 'candidate_id'])
