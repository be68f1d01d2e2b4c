"""the family's side: program kinds and suitability, distance search, contract numbers, notifications

Revision ID: 0060
Revises: 0050
Create Date: 2026-12-01 17:40:00

- programs.for_disabilities: the provider says the program suits children with disabilities (ОВЗ).
  A certified program is a certificate-funded one (CHECK: certified only with funding_kind
  CERTIFICATE); existing rows are all CERTIFICATE or uncertified.
- ix_programs_browse INCLUDEs funding_kind too: the navigator's facets count by (direction, kind), and
  a browse without text stays an index-only scan.
- ix_programs_location: (latitude, longitude) of searchable programs with coordinates; the
  navigator's distance filter takes a bounding box on it before the exact (haversine) distance.
  Plain SQL: the embedded PostgreSQL has neither cube nor earthdistance.
- enrollments.contract_number: "<municipality>-<year>-<serial>" (the certificate's municipality, the
  year the application was made, a serial of the sequence contract_serial), unique. A BEFORE INSERT
  trigger fills it, so every path that writes an enrollment numbers it; existing rows are numbered
  in id order.
- notifications: a provider (organisation) may be the recipient too (exactly one of guardian_id,
  provider_id); ``data`` carries the machine-readable details (ids, month, completeness, amounts);
  ``dedupe_key`` makes a periodic notice once only (unique when set). The live trigger announces
  guardians' notifications only.
- notification_outbox: one row per notification for delivery by an adapter (e-mail, SMS, push):
  attempts, the next attempt, when delivered, the last error.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0060"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("programs", sa.Column("for_disabilities", sa.Boolean, nullable=False, server_default="false"))
    op.execute("UPDATE programs SET certified = false WHERE certified AND funding_kind <> 'CERTIFICATE'")
    op.create_check_constraint(
        "ck_programs_certified_kind", "programs", "NOT certified OR funding_kind = 'CERTIFICATE'"
    )
    op.execute("DROP INDEX ix_programs_browse")
    op.execute(
        "CREATE INDEX ix_programs_browse ON programs (municipality, direction, id)"
        " INCLUDE (min_age, max_age, certified, rating_sum, rating_count, funding_kind) WHERE NOT archived"
    )
    op.execute(
        "CREATE INDEX ix_programs_location ON programs (latitude, longitude)"
        " WHERE NOT archived AND latitude IS NOT NULL AND longitude IS NOT NULL"
    )

    op.execute("CREATE SEQUENCE contract_serial")
    op.add_column("enrollments", sa.Column("contract_number", sa.Text))
    op.execute(
        "UPDATE enrollments e SET contract_number = c.municipality || '-' || to_char(e.created_at, 'YYYY') || '-'"
        " || lpad(nextval('contract_serial')::text, 6, '0')"
        " FROM (SELECT e2.id, c2.municipality FROM enrollments e2 JOIN certificates c2 ON c2.id = e2.certificate_id"
        " ORDER BY e2.id) c WHERE c.id = e.id"
    )
    op.alter_column("enrollments", "contract_number", nullable=False)
    op.create_unique_constraint("uq_enrollments_contract_number", "enrollments", ["contract_number"])
    op.execute(
        "CREATE FUNCTION enrollment_contract_number() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.contract_number IS NULL THEN"
        "  NEW.contract_number := (SELECT municipality FROM certificates WHERE id = NEW.certificate_id)"
        "   || '-' || to_char(coalesce(NEW.created_at, now()), 'YYYY')"
        "   || '-' || lpad(nextval('contract_serial')::text, 6, '0');"
        " END IF; RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER enrollment_contract_number BEFORE INSERT ON enrollments FOR EACH ROW"
        " EXECUTE FUNCTION enrollment_contract_number()"
    )

    op.alter_column("notifications", "guardian_id", nullable=True)
    op.add_column(
        "notifications",
        sa.Column(
            "provider_id",
            sa.BigInteger,
            sa.ForeignKey("providers.id", name="fk_notifications_provider_id_providers"),
        ),
    )
    op.add_column(
        "notifications",
        sa.Column("data", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.add_column("notifications", sa.Column("dedupe_key", sa.Text))
    op.create_check_constraint(
        "ck_notifications_recipient", "notifications", "(guardian_id IS NULL) <> (provider_id IS NULL)"
    )
    op.execute("CREATE UNIQUE INDEX uq_notifications_dedupe_key ON notifications (dedupe_key) WHERE dedupe_key IS NOT NULL")
    op.execute("CREATE INDEX ix_notifications_provider ON notifications (provider_id, id) WHERE provider_id IS NOT NULL")
    op.execute("DROP TRIGGER live_notification_added ON notifications")
    op.execute(
        "CREATE TRIGGER live_notification_added AFTER INSERT ON notifications FOR EACH ROW"
        " WHEN (NEW.guardian_id IS NOT NULL) EXECUTE FUNCTION live_notification_added()"
    )

    op.create_table(
        "notification_outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "notification_id",
            sa.BigInteger,
            sa.ForeignKey("notifications.id", name="fk_notification_outbox_notification_id_notifications"),
            nullable=False,
        ),
        sa.Column("attempts", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_notification_outbox"),
        sa.UniqueConstraint("notification_id", name="uq_notification_outbox_notification_id"),
    )
    op.execute(
        "CREATE INDEX ix_notification_outbox_pending ON notification_outbox (next_attempt_at, id)"
        " WHERE delivered_at IS NULL"
    )


def downgrade() -> None:
    op.drop_table("notification_outbox")
    op.execute("DROP TRIGGER live_notification_added ON notifications")
    op.execute(
        "CREATE TRIGGER live_notification_added AFTER INSERT ON notifications FOR EACH ROW"
        " EXECUTE FUNCTION live_notification_added()"
    )
    op.execute("DROP INDEX ix_notifications_provider")
    op.execute("DROP INDEX uq_notifications_dedupe_key")
    op.drop_constraint("ck_notifications_recipient", "notifications")
    op.execute("DELETE FROM notifications WHERE guardian_id IS NULL")
    op.drop_column("notifications", "dedupe_key")
    op.drop_column("notifications", "data")
    op.drop_column("notifications", "provider_id")
    op.alter_column("notifications", "guardian_id", nullable=False)
    op.execute("DROP TRIGGER enrollment_contract_number ON enrollments")
    op.execute("DROP FUNCTION enrollment_contract_number()")
    op.drop_constraint("uq_enrollments_contract_number", "enrollments")
    op.drop_column("enrollments", "contract_number")
    op.execute("DROP SEQUENCE contract_serial")
    op.execute("DROP INDEX ix_programs_location")
    op.execute("DROP INDEX ix_programs_browse")
    op.execute(
        "CREATE INDEX ix_programs_browse ON programs (municipality, direction, id)"
        " INCLUDE (min_age, max_age, certified, rating_sum, rating_count) WHERE NOT archived"
    )
    op.drop_constraint("ck_programs_certified_kind", "programs")
    op.drop_column("programs", "for_disabilities")
