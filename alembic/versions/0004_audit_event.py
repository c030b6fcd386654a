"""The audit trail.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sqlmodel.AutoString(length=80), nullable=False),
        sa.Column("event", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("outcome", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("client", sqlmodel.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_event_username_at", "audit_event", ["username", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_event_username_at", table_name="audit_event")
    op.drop_table("audit_event")
