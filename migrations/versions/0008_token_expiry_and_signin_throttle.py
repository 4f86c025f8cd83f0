"""staff tokens expire, are revocable and record their last use; sign-in failures are counted in the
database; credentials that may have been exposed are withdrawn

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 17:00:00

Staff tokens made before this revision never expired: they get 90 days from the upgrade (the
default for new ones), so none lives forever, and `certamen token create` issues replacements.

Two kinds of credential were handled in ways that could have let them leak, so the upgrade revokes
them rather than trusting them: sign-in links (their secret was in the URL path, so in every access
log on the way) and learner sessions of the web pages (their bearer token was readable in the
session cookie, and the JSON API accepted it). Those learners sign in again; bearer tokens issued
to API clients (label 'api') stay valid.
"""
from __future__ import annotations

import datetime as dt

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

STAFF_ROLES = ('hr', 'psychometrician', 'admin')
LEGACY_STAFF_TOKEN_DAYS = 90

_tokens = sa.table(
    'api_tokens',
    sa.column('role', sa.String), sa.column('label', sa.String), sa.column('revoked', sa.Boolean),
    sa.column('expires_at', sa.DateTime(timezone=True)), sa.column('revoked_at', sa.DateTime(timezone=True)),
    sa.column('revoked_by', sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('revoked_by', sa.String(length=200), nullable=True))

    now = dt.datetime.now(dt.timezone.utc)
    op.execute(_tokens.update()
               .where(_tokens.c.role.in_(STAFF_ROLES), _tokens.c.expires_at.is_(None))
               .values(expires_at=now + dt.timedelta(days=LEGACY_STAFF_TOKEN_DAYS)))
    exposed = sa.or_(_tokens.c.role == 'signin_link',
                     sa.and_(_tokens.c.role == 'learner', _tokens.c.label != 'api'))
    op.execute(_tokens.update().where(exposed, _tokens.c.revoked.is_(False))
               .values(revoked=True, revoked_at=now, revoked_by='migration 0008'))

    op.create_table(
        'signin_failures',
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_signin_failures')),
    )
    with op.batch_alter_table('signin_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signin_failures_last_failure_at'), ['last_failure_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signin_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signin_failures_last_failure_at'))
    op.drop_table('signin_failures')

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('revoked_by')
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('last_used_at')
