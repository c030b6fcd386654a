"""Index sessions by extension, so that ending an extension's sessions deletes them at once.

Sessions stored before this carry no extension: they are ended here (their users sign in
again), since nothing could find them to end them later.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM web_session")
    with op.batch_alter_table("web_session") as batch:
        batch.add_column(sa.Column("extension_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_web_session_extension_id",
            "extension",
            ["extension_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_web_session_extension_id", ["extension_id"])


def downgrade() -> None:
    with op.batch_alter_table("web_session") as batch:
        batch.drop_index("ix_web_session_extension_id")
        batch.drop_constraint("fk_web_session_extension_id", type_="foreignkey")
        batch.drop_column("extension_id")
