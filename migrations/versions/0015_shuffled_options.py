"""options shown in a per-sitting order (items may opt out; responses keep the order they were answered in);
what an item's key teaches

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 01:40:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shuffle', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('teaches', sa.String(length=20), nullable=True))
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('option_order', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_column('option_order')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_column('teaches')
        batch_op.drop_column('shuffle')
