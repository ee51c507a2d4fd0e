"""video and document uploads (issue 18): no table needed

A video upload's session and a video's id are kept in the delivery's progress, and a document's
hash and size in the item's banner_data, so this revision changes nothing; it stays so that the
revision numbers reserved for the issues keep their meaning.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
