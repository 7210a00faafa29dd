"""Journal entries as `payments.ledger.JournalEntry`: one header row per entry, postings below.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=True),
        sa.Column("intent_id", sa.Text(), nullable=True),
        sa.Column("reverses", sa.Text(), nullable=True),
        sa.Column("meta", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_journal_entries_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["reverses"], ["journal_entries.id"], name=op.f("fk_journal_entries_reverses_journal_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint("reverses", name=op.f("uq_journal_entries_reverses")),
    )
    op.create_index(op.f("ix_journal_entries_tenant_id_order_id"), "journal_entries", ["tenant_id", "order_id"])
    # Postings had no writer before this revision.
    op.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_immutable")
    op.execute("DELETE FROM ledger_entries")
    op.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_immutable")
    op.drop_constraint("fk_ledger_entries_order_id_orders", "ledger_entries", type_="foreignkey")
    op.drop_constraint("fk_ledger_entries_payment_id_payments", "ledger_entries", type_="foreignkey")
    for column in ("account", "order_id", "payment_id", "reverses_journal_id", "memo"):
        op.drop_column("ledger_entries", column)
    op.add_column("ledger_entries", sa.Column("account_kind", sa.Text(), nullable=False))
    op.add_column("ledger_entries", sa.Column("account_holder", sa.Text(), server_default="", nullable=False))
    op.create_foreign_key(
        op.f("fk_ledger_entries_journal_id_journal_entries"), "ledger_entries", "journal_entries", ["journal_id"], ["id"]
    )
    # ix_ledger_entries_tenant_id_account_currency went with the "account" column.
    op.create_index(
        op.f("ix_ledger_entries_tenant_id_account_kind_account_holder_currency"),
        "ledger_entries",
        ["tenant_id", "account_kind", "account_holder", "currency"],
    )
    op.execute(
        "CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries "
        "FOR EACH ROW EXECUTE FUNCTION hexdispatch_refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER journal_entries_immutable ON journal_entries")
    op.drop_index(op.f("ix_ledger_entries_tenant_id_account_kind_account_holder_currency"), table_name="ledger_entries")
    op.drop_constraint(op.f("fk_ledger_entries_journal_id_journal_entries"), "ledger_entries", type_="foreignkey")
    op.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_immutable")
    op.execute("DELETE FROM ledger_entries")
    op.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_immutable")
    op.drop_column("ledger_entries", "account_holder")
    op.drop_column("ledger_entries", "account_kind")
    op.add_column("ledger_entries", sa.Column("account", sa.Text(), nullable=False))
    op.add_column("ledger_entries", sa.Column("order_id", sa.Text(), nullable=True))
    op.add_column("ledger_entries", sa.Column("payment_id", sa.Text(), nullable=True))
    op.add_column("ledger_entries", sa.Column("reverses_journal_id", sa.Text(), nullable=True))
    op.add_column("ledger_entries", sa.Column("memo", sa.Text(), server_default="", nullable=False))
    op.create_foreign_key("fk_ledger_entries_order_id_orders", "ledger_entries", "orders", ["order_id"], ["id"])
    op.create_foreign_key("fk_ledger_entries_payment_id_payments", "ledger_entries", "payments", ["payment_id"], ["id"])
    op.create_index("ix_ledger_entries_tenant_id_account_currency", "ledger_entries", ["tenant_id", "account", "currency"])
    op.drop_index(op.f("ix_journal_entries_tenant_id_order_id"), table_name="journal_entries")
    op.drop_table("journal_entries")
