"""ledger checkpoints: a closed period is checked once, at its close, and sealed

Revision ID: 0100
Revises: 0070
Create Date: 2026-12-01 21:00:00

- ledger_checkpoints: one row per closed period whose check found nothing wrong, written last in the
  close's transaction: its entries (count, sum, sums per kind, a digest of every entry), its
  balances' sums, its enrollments' reserves and charges, and the issued statements it verified
  against the ledger (id -> total).
- ix_ledger_entries_period (period_id, id) INCLUDE (amount): a period's entries read by their period
  (its check at the close, the open periods' check), a sealed period's first and last entry ids found
  in a probe (``ledger check`` compares them with the checkpoint), counted and summed from the index
  alone (``ledger check --full``).
- ix_balances_period: the open periods' balances without reading the closed ones'.
- the seal: triggers refuse any insert, update or delete of a ledger entry or a balance of a period
  that has a checkpoint, and any update or delete of a checkpoint. Closed periods without one
  (closed before this revision) are checked and sealed by the next ``pdo-graph ledger check``.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0100"
down_revision = "0070"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_checkpoints",
        sa.Column("period_id", sa.BigInteger, nullable=False),
        sa.Column("entries", sa.BigInteger, nullable=False),
        sa.Column("first_entry_id", sa.BigInteger),
        sa.Column("last_entry_id", sa.BigInteger),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("amounts", postgresql.JSONB, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("balance_rows", sa.BigInteger, nullable=False),
        sa.Column("credited", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("spent", sa.BigInteger, nullable=False),
        sa.Column("expired", sa.BigInteger, nullable=False),
        sa.Column("carried", sa.BigInteger, nullable=False),
        sa.Column("enrollment_reserved", sa.BigInteger, nullable=False),
        sa.Column("enrollment_charged", sa.BigInteger, nullable=False),
        sa.Column("statements", postgresql.JSONB, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["period_id"], ["funding_periods.id"], name=op.f("fk_ledger_checkpoints_period_id_funding_periods")
        ),
        sa.PrimaryKeyConstraint("period_id", name=op.f("pk_ledger_checkpoints")),
    )
    op.create_index(
        "ix_ledger_entries_period", "ledger_entries", ["period_id", "id"], postgresql_include=["amount"]
    )
    op.create_index("ix_balances_period", "balances", ["period_id"])
    op.execute(
        """
        CREATE FUNCTION ledger_sealed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF (TG_OP <> 'INSERT' AND EXISTS (SELECT 1 FROM ledger_checkpoints WHERE period_id = OLD.period_id))
             OR (TG_OP <> 'DELETE' AND EXISTS (SELECT 1 FROM ledger_checkpoints WHERE period_id = NEW.period_id)) THEN
            RAISE EXCEPTION '%: period % is closed and sealed: % refused', TG_TABLE_NAME,
              CASE WHEN TG_OP = 'INSERT' THEN NEW.period_id ELSE OLD.period_id END, TG_OP
              USING ERRCODE = 'object_not_in_prerequisite_state';
          END IF;
          RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION ledger_checkpoints_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'ledger_checkpoints are written once: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    for table in ("ledger_entries", "balances"):
        op.execute(
            f"CREATE TRIGGER {table}_sealed BEFORE INSERT OR UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION ledger_sealed()"
        )
    op.execute(
        "CREATE TRIGGER ledger_checkpoints_fixed BEFORE UPDATE OR DELETE ON ledger_checkpoints"
        " FOR EACH ROW EXECUTE FUNCTION ledger_checkpoints_fixed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_entries_sealed ON ledger_entries")
    op.execute("DROP TRIGGER balances_sealed ON balances")
    op.execute("DROP TABLE ledger_checkpoints")
    op.execute("DROP FUNCTION ledger_checkpoints_fixed()")
    op.execute("DROP FUNCTION ledger_sealed()")
    op.drop_index("ix_ledger_entries_period", "ledger_entries")
    op.drop_index("ix_balances_period", "balances")
