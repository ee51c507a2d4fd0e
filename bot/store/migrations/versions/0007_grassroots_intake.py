"""grassroots intake: staff users, submissions, webhook events (issue 19)

Revision ID: 0007
Revises: 0006

* ``staffuser``: reviewers and admins (Argon2 hashes), with their lock-out state;
* ``loginattempt``: every login try, for the lock-out by account and by address;
* ``submission`` and ``submissionphoto``: stories sent from the web page or the Zalo OA;
* ``webhookevent``: verified Zalo calls, unique, so each is processed once;
* ``submitternotice``: what a submitter is owed (received, published, rejected), told once.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

DT = sqlmodel.sql.sqltypes.UTCDateTime
S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'staffuser',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', S(), nullable=False),
        sa.Column('display_name', S(), nullable=False),
        sa.Column('unit_id', S(), nullable=False),
        sa.Column('role', S(), nullable=False),
        sa.Column('password_hash', S(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('failed_logins', sa.Integer(), nullable=False),
        sa.Column('locked_until', DT(), nullable=True),
        sa.Column('created_at', DT(), nullable=False),
        sa.Column('last_login_at', DT(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    with op.batch_alter_table('staffuser', schema=None) as b:
        b.create_index(b.f('ix_staffuser_unit_id'), ['unit_id'], unique=False)
    op.create_table(
        'loginattempt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', S(), nullable=False),
        sa.Column('client', S(), nullable=False),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('at', DT(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('loginattempt', schema=None) as b:
        b.create_index(b.f('ix_loginattempt_name'), ['name'], unique=False)
        b.create_index(b.f('ix_loginattempt_at'), ['at'], unique=False)
        b.create_index('ix_loginattempt_client_at', ['client', 'at'], unique=False)
    op.create_table(
        'submission',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ref', S(), nullable=False),
        sa.Column('source', S(), nullable=False),
        sa.Column('state', S(), nullable=False),
        sa.Column('title', S(), nullable=False),
        sa.Column('body', S(), nullable=False),
        sa.Column('unit_id', S(), nullable=False),
        sa.Column('author_name', S(), nullable=False),
        sa.Column('author_role', S(), nullable=False),
        sa.Column('contact_kind', S(), nullable=True),
        sa.Column('contact_enc', S(), nullable=True),
        sa.Column('consent', sa.Boolean(), nullable=False),
        sa.Column('fingerprint', S(), nullable=False),
        sa.Column('client', S(), nullable=True),
        sa.Column('zalo_user', S(), nullable=True),
        sa.Column('oa_id', S(), nullable=True),
        sa.Column('kind', S(), nullable=True),
        sa.Column('audience', sa.JSON(), nullable=True),
        sa.Column('platforms', sa.JSON(), nullable=False),
        sa.Column('banner', S(), nullable=True),
        sa.Column('reviewed_by', S(), nullable=True),
        sa.Column('reviewed_at', DT(), nullable=True),
        sa.Column('reason', S(), nullable=True),
        sa.Column('content_id', S(), nullable=True),
        sa.Column('story_path', S(), nullable=True),
        sa.Column('created_at', DT(), nullable=False),
        sa.Column('updated_at', DT(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ref'),
    )
    with op.batch_alter_table('submission', schema=None) as b:
        b.create_index(b.f('ix_submission_state'), ['state'], unique=False)
        b.create_index(b.f('ix_submission_unit_id'), ['unit_id'], unique=False)
        b.create_index(b.f('ix_submission_fingerprint'), ['fingerprint'], unique=False)
        b.create_index(b.f('ix_submission_zalo_user'), ['zalo_user'], unique=False)
        b.create_index(b.f('ix_submission_content_id'), ['content_id'], unique=False)
        b.create_index(b.f('ix_submission_created_at'), ['created_at'], unique=False)
        b.create_index('ix_submission_state_unit', ['state', 'unit_id'], unique=False)
    op.create_table(
        'submissionphoto',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('stored_name', S(), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('created_at', DT(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('stored_name'),
    )
    with op.batch_alter_table('submissionphoto', schema=None) as b:
        b.create_index(b.f('ix_submissionphoto_submission_id'), ['submission_id'], unique=False)
    op.create_table(
        'webhookevent',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', S(), nullable=False),
        sa.Column('event_name', S(), nullable=False),
        sa.Column('received_at', DT(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    with op.batch_alter_table('webhookevent', schema=None) as b:
        b.create_index(b.f('ix_webhookevent_received_at'), ['received_at'], unique=False)
    op.create_table(
        'submitternotice',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('kind', S(), nullable=False),
        sa.Column('state', S(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', DT(), nullable=True),
        sa.Column('lease_owner', S(), nullable=True),
        sa.Column('lease_until', DT(), nullable=True),
        sa.Column('sent_at', DT(), nullable=True),
        sa.Column('error', S(), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.Column('created_at', DT(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('submission_id', 'kind', name='uq_submitternotice'),
    )
    with op.batch_alter_table('submitternotice', schema=None) as b:
        b.create_index(b.f('ix_submitternotice_submission_id'), ['submission_id'], unique=False)
        b.create_index(b.f('ix_submitternotice_state'), ['state'], unique=False)


def downgrade() -> None:
    for table in ('submitternotice', 'webhookevent', 'submissionphoto', 'submission', 'loginattempt', 'staffuser'):
        op.drop_table(table)
