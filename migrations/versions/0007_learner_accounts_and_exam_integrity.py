"""learner accounts (argon2 password, learner and sign-in-link tokens), exam integrity rules,
sitting deadlines, one sitting in progress per candidate

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 06:40:00

A candidate could hold sittings of two different exams in progress before this revision. The new
rule allows one; the upgrade keeps each candidate's most recently started sitting in progress and
marks the older ones 'abandoned' (they keep every response) so the unique index can be built.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

IN_PROGRESS = sa.text("state = 'in_progress'")


def upgrade() -> None:
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_hash', sa.String(length=200), nullable=True))

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('candidate_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_api_tokens_candidate_id'), ['candidate_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_api_tokens_candidate_id_candidates'), 'candidates',
                                    ['candidate_id'], ['id'])

    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('integrity', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))

    op.create_table(
        'attempt_grants',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('candidate_id', sa.Integer(), nullable=False),
        sa.Column('exam_id', sa.String(length=80), nullable=False),
        sa.Column('granted_by', sa.String(length=200), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['candidate_id'], ['candidates.id'], name=op.f('fk_attempt_grants_candidate_id_candidates')),
        sa.ForeignKeyConstraint(['exam_id'], ['exams.id'], name=op.f('fk_attempt_grants_exam_id_exams')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_attempt_grants')),
    )
    with op.batch_alter_table('attempt_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attempt_grants_candidate_id'), ['candidate_id'], unique=False)

    op.execute(sa.text(
        "UPDATE exam_sessions SET state = 'abandoned' WHERE state = 'in_progress' AND EXISTS ("
        " SELECT 1 FROM exam_sessions AS newer WHERE newer.candidate_id = exam_sessions.candidate_id"
        " AND newer.state = 'in_progress' AND (newer.started_at > exam_sessions.started_at"
        " OR (newer.started_at = exam_sessions.started_at AND newer.id > exam_sessions.id)))"
    ))
    with op.batch_alter_table('exam_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deadline', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index('uq_exam_sessions_one_in_progress', sqlite_where=IN_PROGRESS,
                            postgresql_where=IN_PROGRESS)
        batch_op.create_index('uq_exam_sessions_one_in_progress', ['candidate_id'], unique=True,
                              sqlite_where=IN_PROGRESS, postgresql_where=IN_PROGRESS)


def downgrade() -> None:
    with op.batch_alter_table('exam_sessions', schema=None) as batch_op:
        batch_op.drop_index('uq_exam_sessions_one_in_progress', sqlite_where=IN_PROGRESS,
                            postgresql_where=IN_PROGRESS)
        batch_op.create_index('uq_exam_sessions_one_in_progress', ['candidate_id', 'exam_id'], unique=True,
                              sqlite_where=IN_PROGRESS, postgresql_where=IN_PROGRESS)
        batch_op.drop_column('deadline')

    op.drop_table('attempt_grants')

    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.drop_column('integrity')

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_tokens_candidate_id_candidates'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_tokens_candidate_id'))
        batch_op.drop_column('expires_at')
        batch_op.drop_column('candidate_id')

    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.drop_column('password_hash')
