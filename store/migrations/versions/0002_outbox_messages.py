"""Webhook outbox rows carry `orders.webhooks.OutboxMessage` as it is (signed body, ordering).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:55:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_webhook_outbox_next_attempt_at", table_name="webhook_outbox")
    op.drop_column("webhook_outbox", "payload")
    op.drop_column("webhook_outbox", "order_id")
    # Rows written by 0001 have no message identity; the outbox had no writer before this.
    op.execute("DELETE FROM webhook_outbox")
    op.add_column("webhook_outbox", sa.Column("message_id", sa.Text(), nullable=False))
    op.add_column("webhook_outbox", sa.Column("event_id", sa.Text(), nullable=False))
    op.add_column("webhook_outbox", sa.Column("endpoint_id", sa.Text(), nullable=False))
    op.add_column("webhook_outbox", sa.Column("ordering_key", sa.Text(), nullable=False))
    op.add_column("webhook_outbox", sa.Column("sequence", sa.Integer(), nullable=False))
    op.add_column("webhook_outbox", sa.Column("body", sa.LargeBinary(), nullable=False))
    op.create_unique_constraint(op.f("uq_webhook_outbox_message_id"), "webhook_outbox", ["message_id"])
    op.create_index(
        op.f("ix_webhook_outbox_endpoint_id_ordering_key_sequence"),
        "webhook_outbox",
        ["endpoint_id", "ordering_key", "sequence"],
    )
    op.create_index(
        op.f("ix_webhook_outbox_next_attempt_at"),
        "webhook_outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text("delivered_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_outbox_next_attempt_at"), table_name="webhook_outbox")
    op.drop_index(op.f("ix_webhook_outbox_endpoint_id_ordering_key_sequence"), table_name="webhook_outbox")
    op.drop_constraint(op.f("uq_webhook_outbox_message_id"), "webhook_outbox", type_="unique")
    op.execute("DELETE FROM webhook_outbox")
    for column in ("body", "sequence", "ordering_key", "endpoint_id", "event_id", "message_id"):
        op.drop_column("webhook_outbox", column)
    op.add_column("webhook_outbox", sa.Column("order_id", sa.Text(), nullable=True))
    op.add_column(
        "webhook_outbox",
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    )
    op.create_index(
        "ix_webhook_outbox_next_attempt_at",
        "webhook_outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text("delivered_at IS NULL"),
    )
