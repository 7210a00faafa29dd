"""Wrong delivery PINs counted per order in the store, so every API worker shares the limit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 17:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("pin_failures", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("orders", "pin_failures")
