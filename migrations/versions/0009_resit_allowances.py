"""re-sit allowances: staff let the holder of a suspended or revoked certificate sit its exam again

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 18:00:00

Until this revision a suspended or revoked holder could sit the exam again at once and be issued a
fresh certificate. From now on starting that exam (or its recertification exam) and issuing are refused
until staff reinstate the certificate or record a re-sit allowance here (with an audit event).
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'resit_allowances',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('certificate_id', sa.String(length=40), nullable=False),
        sa.Column('allowed_by', sa.String(length=200), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('allowed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'],
                                name=op.f('fk_resit_allowances_certificate_id_certificates')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_resit_allowances')),
    )
    with op.batch_alter_table('resit_allowances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resit_allowances_certificate_id'), ['certificate_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('resit_allowances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resit_allowances_certificate_id'))
    op.drop_table('resit_allowances')
