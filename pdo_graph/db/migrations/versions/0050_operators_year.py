"""the operator's year: verification queue, time zones, carry-over, prolongation, statements

Revision ID: 0050
Revises: 0041
Create Date: 2026-12-01 18:00:00

- municipalities.time_zone: the IANA zone a municipality's days are counted in (NULL: the setting
  PDO_TIME_ZONE, Europe/Moscow by default); a period closes after its ``ends_on`` in that zone.
- certificate_applications: a child may apply again after a rejection (the unique child_id becomes
  a unique index over the applications that are not REJECTED: one open application per child);
  ``rejection_reason`` is what the guardian is shown.
- balances.carried: money carried out of a period (``CARRY``); ``available`` now subtracts it.
- ledger_entries: the kind ``CARRY``: out of a period (available -> carried) and into the next one
  of the municipality (carry -> available).
- carry_overs: money carried out of a closed period, waiting for the next period of the
  municipality to open (credited into it once; ``to_period_id`` set then).
- enrollments: ``AWAITING_CONSENT`` (a prolongation whose family share changed), ``prolonged_from``
  (one prolongation per contract), ``ended_by_period`` (the contract ended only because its period
  closed: prolongable).
- settlement_statements, settlement_serials: the monthly statements per payer x provider x month and
  the serials of their numbers per payer and year.
"""

import sqlalchemy as sa
from alembic import op

revision = "0050"
down_revision = "0041"
branch_labels = None
depends_on = None

ACCOUNTS = (
    "(kind = 'CREDIT' AND debit_account = 'available' AND credit_account = 'budget')"
    " OR (kind = 'RESERVE' AND debit_account = 'reserved' AND credit_account = 'available')"
    " OR (kind = 'RELEASE' AND debit_account = 'available' AND credit_account = 'reserved')"
    " OR (kind = 'CHARGE' AND debit_account = 'spent' AND credit_account = 'reserved')"
    " OR (kind = 'EXPIRE' AND debit_account = 'expired' AND credit_account = 'available')"
)
CARRY_ACCOUNTS = (
    " OR (kind = 'CARRY' AND debit_account = 'carried' AND credit_account = 'available')"
    " OR (kind = 'CARRY' AND debit_account = 'available' AND credit_account = 'carry')"
)
# the live-update triggers of migration 0040 that name columns changed here
ENROLLMENT_TRIGGER = (
    "CREATE TRIGGER live_enrollment_status AFTER UPDATE OF status ON enrollments FOR EACH ROW"
    " WHEN (OLD.status IS DISTINCT FROM NEW.status)"
    " EXECUTE FUNCTION live_announce('enrollment', 'id')"
)
def balance_trigger(*columns: str) -> str:
    old, new = (", ".join(f"{row}.{c}" for c in columns) for row in ("OLD", "NEW"))
    return (
        "CREATE TRIGGER live_balance_changed AFTER UPDATE ON balances FOR EACH ROW"
        f" WHEN (({old}) IS DISTINCT FROM ({new}))"
        " EXECUTE FUNCTION live_announce('certificate', 'certificate_id')"
    )

STATUSES = "'REQUESTED', 'ACTIVE', 'REFUSED', 'EXPIRED', 'TERMINATED', 'COMPLETED'"


def upgrade() -> None:
    op.add_column("municipalities", sa.Column("time_zone", sa.Text))

    op.drop_constraint("uq_certificate_applications_child_id", "certificate_applications", type_="unique")
    op.create_index(
        "uq_certificate_applications_open",
        "certificate_applications",
        ["child_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'REJECTED'"),
    )
    op.add_column("certificate_applications", sa.Column("rejection_reason", sa.Text))
    op.create_index(
        "ix_certificate_applications_queue", "certificate_applications", ["municipality", "status", "created_at", "id"]
    )

    op.add_column("balances", sa.Column("carried", sa.BigInteger, nullable=False, server_default="0"))
    op.execute("DROP TRIGGER live_balance_changed ON balances")
    op.execute(balance_trigger("credited", "reserved", "spent", "expired", "carried"))
    op.execute("ALTER TABLE balances DROP CONSTRAINT ck_balances_available_non_negative")
    op.execute("ALTER TABLE balances DROP CONSTRAINT ck_balances_non_negative")
    op.execute("ALTER TABLE balances DROP COLUMN available")
    op.execute(
        "ALTER TABLE balances ADD COLUMN available bigint"
        " GENERATED ALWAYS AS (credited - reserved - spent - expired - carried) STORED NOT NULL"
    )
    op.execute(
        "ALTER TABLE balances ADD CONSTRAINT ck_balances_non_negative"
        " CHECK (credited >= 0 AND reserved >= 0 AND spent >= 0 AND expired >= 0 AND carried >= 0)"
    )
    op.execute("ALTER TABLE balances ADD CONSTRAINT ck_balances_available_non_negative CHECK (available >= 0)")

    op.execute("ALTER TABLE ledger_entries DROP CONSTRAINT ck_ledger_entries_accounts")
    op.execute(f"ALTER TABLE ledger_entries ADD CONSTRAINT ck_ledger_entries_accounts CHECK ({ACCOUNTS}{CARRY_ACCOUNTS})")

    op.create_table(
        "carry_overs",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("certificate_id", sa.BigInteger, sa.ForeignKey("certificates.id"), nullable=False),
        sa.Column("from_period_id", sa.BigInteger, sa.ForeignKey("funding_periods.id"), nullable=False),
        sa.Column("municipality", sa.String(2), sa.ForeignKey("municipalities.code"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("to_period_id", sa.BigInteger, sa.ForeignKey("funding_periods.id")),
        sa.Column("credited_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("amount > 0", name="ck_carry_overs_amount"),
        sa.UniqueConstraint("certificate_id", "from_period_id", name="uq_carry_overs_certificate_id"),
    )
    op.create_index(
        "ix_carry_overs_pending", "carry_overs", ["municipality", "id"], postgresql_where=sa.text("to_period_id IS NULL")
    )

    op.execute("ALTER TABLE enrollments DROP CONSTRAINT ck_enrollments_status")
    op.execute("DROP TRIGGER live_enrollment_status ON enrollments")
    op.execute("ALTER TABLE enrollments ALTER COLUMN status TYPE varchar(16)")
    op.execute(ENROLLMENT_TRIGGER)
    op.execute(f"ALTER TABLE enrollments ADD CONSTRAINT ck_enrollments_status CHECK (status IN ({STATUSES}, 'AWAITING_CONSENT'))")
    op.add_column("enrollments", sa.Column("prolonged_from", sa.BigInteger, sa.ForeignKey("enrollments.id")))
    op.create_unique_constraint("uq_enrollments_prolonged_from", "enrollments", ["prolonged_from"])
    op.add_column("enrollments", sa.Column("ended_by_period", sa.Boolean, nullable=False, server_default="false"))
    op.drop_index("uq_enrollments_live", table_name="enrollments")
    op.create_index(
        "uq_enrollments_live",
        "enrollments",
        ["child_id", "group_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('REQUESTED','ACTIVE','AWAITING_CONSENT')"),
    )

    op.create_table(
        "settlement_statements",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("payer", sa.String(2), sa.ForeignKey("municipalities.code"), nullable=False),
        sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id"), nullable=False),
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("status", sa.String(8), nullable=False, server_default="DRAFT"),
        sa.Column("number", sa.Text, unique=True),
        sa.Column("total", sa.BigInteger),
        sa.Column("lines", sa.Integer),
        sa.Column("issued_at", sa.DateTime(timezone=True)),
        sa.Column("issued_by", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('DRAFT','ISSUED')", name="ck_settlement_statements_status"),
        sa.CheckConstraint(
            "(status = 'ISSUED') = (number IS NOT NULL AND total IS NOT NULL AND issued_at IS NOT NULL)",
            name="ck_settlement_statements_issued",
        ),
        sa.UniqueConstraint("payer", "provider_id", "month", name="uq_settlement_statements_payer"),
    )
    op.create_index("ix_settlement_statements_provider", "settlement_statements", ["provider_id", "month"])
    op.create_table(
        "settlement_serials",
        sa.Column("payer", sa.String(2), sa.ForeignKey("municipalities.code"), primary_key=True),
        sa.Column("year", sa.SmallInteger, primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )
    op.create_index("ix_ledger_entries_charges", "ledger_entries", ["month", "period_id"], postgresql_where=sa.text("kind = 'CHARGE'"))


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_charges", table_name="ledger_entries")
    op.drop_table("settlement_serials")
    op.drop_table("settlement_statements")
    op.drop_index("uq_enrollments_live", table_name="enrollments")
    op.execute("DELETE FROM enrollments WHERE status = 'AWAITING_CONSENT'")
    op.create_index(
        "uq_enrollments_live",
        "enrollments",
        ["child_id", "group_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('REQUESTED','ACTIVE')"),
    )
    op.drop_column("enrollments", "ended_by_period")
    op.drop_constraint("uq_enrollments_prolonged_from", "enrollments", type_="unique")
    op.drop_column("enrollments", "prolonged_from")
    op.execute("ALTER TABLE enrollments DROP CONSTRAINT ck_enrollments_status")
    op.execute("DROP TRIGGER live_enrollment_status ON enrollments")
    op.execute("ALTER TABLE enrollments ALTER COLUMN status TYPE varchar(12)")
    op.execute(ENROLLMENT_TRIGGER)
    op.execute(f"ALTER TABLE enrollments ADD CONSTRAINT ck_enrollments_status CHECK (status IN ({STATUSES}))")
    op.drop_index("ix_carry_overs_pending", table_name="carry_overs")
    op.drop_table("carry_overs")
    op.execute("DELETE FROM ledger_entries WHERE kind = 'CARRY'")
    op.execute("ALTER TABLE ledger_entries DROP CONSTRAINT ck_ledger_entries_accounts")
    op.execute(f"ALTER TABLE ledger_entries ADD CONSTRAINT ck_ledger_entries_accounts CHECK ({ACCOUNTS})")
    op.execute("ALTER TABLE balances DROP CONSTRAINT ck_balances_available_non_negative")
    op.execute("ALTER TABLE balances DROP CONSTRAINT ck_balances_non_negative")
    op.execute("ALTER TABLE balances DROP COLUMN available")
    op.execute("DROP TRIGGER live_balance_changed ON balances")
    op.drop_column("balances", "carried")
    op.execute(balance_trigger("credited", "reserved", "spent", "expired"))
    op.execute(
        "ALTER TABLE balances ADD COLUMN available bigint"
        " GENERATED ALWAYS AS (credited - reserved - spent - expired) STORED NOT NULL"
    )
    op.execute(
        "ALTER TABLE balances ADD CONSTRAINT ck_balances_non_negative"
        " CHECK (credited >= 0 AND reserved >= 0 AND spent >= 0 AND expired >= 0)"
    )
    op.execute("ALTER TABLE balances ADD CONSTRAINT ck_balances_available_non_negative CHECK (available >= 0)")
    op.drop_index("ix_certificate_applications_queue", table_name="certificate_applications")
    op.drop_column("certificate_applications", "rejection_reason")
    op.drop_index("uq_certificate_applications_open", table_name="certificate_applications")
    op.execute("DELETE FROM certificate_applications a WHERE status = 'REJECTED'")
    op.create_unique_constraint("uq_certificate_applications_child_id", "certificate_applications", ["child_id"])
    op.drop_column("municipalities", "time_zone")
