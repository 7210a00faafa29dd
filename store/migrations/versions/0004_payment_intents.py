"""Payments as `payments.intents.PaymentIntent` (optimistic version), with their events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:12:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Payments had no writer before this revision.
    op.execute("DELETE FROM payments")
    op.drop_column("payments", "data")
    op.add_column("payments", sa.Column("method", sa.Text(), nullable=False))
    op.add_column("payments", sa.Column("failure_reason", sa.Text(), nullable=True))
    op.add_column("payments", sa.Column("cash_courier_id", sa.Text(), nullable=True))
    op.add_column("payments", sa.Column("refund_ids", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False))
    op.add_column("payments", sa.Column("seen_updates", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False))
    op.add_column(
        "payments",
        sa.Column("pending_refunds", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    )
    op.add_column("payments", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "payment_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("intent_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("from_state", sa.Text(), nullable=True),
        sa.Column("to_state", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.ForeignKeyConstraint(["intent_id"], ["payments.id"], name=op.f("fk_payment_events_intent_id_payments")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_payment_events_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        sa.UniqueConstraint("intent_id", "seq", name=op.f("uq_payment_events_intent_id_seq")),
    )


def downgrade() -> None:
    op.drop_table("payment_events")
    op.execute("DELETE FROM payments")
    for column in ("version", "pending_refunds", "seen_updates", "refund_ids", "cash_courier_id", "failure_reason", "method"):
        op.drop_column("payments", column)
    op.add_column(
        "payments",
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    )
