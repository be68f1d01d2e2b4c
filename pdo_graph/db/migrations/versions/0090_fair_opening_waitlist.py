"""fair opening and waitlist: a group's opening minute and its draw; the waitlist with offers

Revision ID: 0090
Revises: 0060
Create Date: 2026-12-01 18:00:00

- groups.enrollment_opens_at, groups.fair_window_minutes: applications before the opening are
  refused (NOT_OPEN_YET); those inside the window wait as PENDING_DRAW for the draw.
- group_draws: one row per group with an opening: the seed (secret until the draw) and its SHA-256
  (published before the window opens), the window's end, when it was drawn, the application ids
  that took part and their drawn order, and how many seats were won.
- enrollments.status gains PENDING_DRAW (money reserved, no seat); the one-live-application index
  covers it too.
- waitlist_entries: a certificate queued for a full group (FIFO by queue_no), one live place per
  child per group; an OFFERED entry holds a seat of the group until offer_expires_at.
"""

import sqlalchemy as sa
from alembic import op

revision = "0090"
down_revision = "0060"
branch_labels = None
depends_on = None

STATUSES = ("PENDING_DRAW", "REQUESTED", "ACTIVE", "REFUSED", "EXPIRED", "TERMINATED", "COMPLETED", "AWAITING_CONSENT")
OLD_STATUSES = ("REQUESTED", "ACTIVE", "REFUSED", "EXPIRED", "TERMINATED", "COMPLETED", "AWAITING_CONSENT")
LIVE = "status IN ('PENDING_DRAW','REQUESTED','ACTIVE','AWAITING_CONSENT')"
OLD_LIVE = "status IN ('REQUESTED','ACTIVE','AWAITING_CONSENT')"


def _statuses(names: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{s}'" for s in names) + ")"


def upgrade() -> None:
    op.add_column("groups", sa.Column("enrollment_opens_at", sa.DateTime(timezone=True)))
    op.add_column("groups", sa.Column("fair_window_minutes", sa.Integer, nullable=False, server_default="10"))
    op.create_check_constraint(op.f("ck_groups_fair_window"), "groups", "fair_window_minutes BETWEEN 0 AND 1440")
    op.create_table(
        "group_draws",
        sa.Column("group_id", sa.BigInteger, sa.ForeignKey("groups.id", name="fk_group_draws_group_id_groups"),
                  primary_key=True),
        sa.Column("seed", sa.Text, nullable=False),
        sa.Column("seed_hash", sa.Text, nullable=False),
        sa.Column("window_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True)),
        sa.Column("entrants", sa.ARRAY(sa.BigInteger)),
        sa.Column("drawn_order", sa.ARRAY(sa.BigInteger)),
        sa.Column("seats", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("group_id", name="pk_group_draws"),
    )
    op.create_index("ix_group_draws_due", "group_draws", ["window_ends_at"], postgresql_where=sa.text("drawn_at IS NULL"))

    op.drop_constraint("ck_enrollments_status", "enrollments")
    op.create_check_constraint(op.f("ck_enrollments_status"), "enrollments", _statuses(STATUSES))
    op.drop_index("uq_enrollments_live", "enrollments")
    op.create_index("uq_enrollments_live", "enrollments", ["child_id", "group_id"], unique=True,
                    postgresql_where=sa.text(LIVE))
    op.create_index("ix_enrollments_pending_draw", "enrollments", ["group_id"],
                    postgresql_where=sa.text("status = 'PENDING_DRAW'"))

    op.execute("CREATE SEQUENCE waitlist_queue_seq")
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("group_id", sa.BigInteger, sa.ForeignKey("groups.id", name="fk_waitlist_entries_group_id_groups"),
                  nullable=False),
        sa.Column("certificate_id", sa.BigInteger,
                  sa.ForeignKey("certificates.id", name="fk_waitlist_entries_certificate_id_certificates"),
                  nullable=False),
        sa.Column("child_id", sa.BigInteger, sa.ForeignKey("children.id", name="fk_waitlist_entries_child_id_children"),
                  nullable=False),
        sa.Column("guardian_id", sa.BigInteger,
                  sa.ForeignKey("guardians.id", name="fk_waitlist_entries_guardian_id_guardians"), nullable=False),
        sa.Column("queue_no", sa.BigInteger, nullable=False, server_default=sa.text("nextval('waitlist_queue_seq')")),
        sa.Column("state", sa.String(10), nullable=False, server_default="WAITING"),
        sa.Column("offered_at", sa.DateTime(timezone=True)),
        sa.Column("offer_expires_at", sa.DateTime(timezone=True)),
        sa.Column("enrollment_id", sa.BigInteger,
                  sa.ForeignKey("enrollments.id", name="fk_waitlist_entries_enrollment_id_enrollments")),
        sa.Column("source", sa.String(8), nullable=False, server_default="JOIN"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_waitlist_entries"),
        sa.CheckConstraint(
            "state IN ('WAITING','OFFERED','ACCEPTED','DECLINED','LAPSED','LEFT')", name=op.f("ck_waitlist_entries_state")
        ),
        sa.CheckConstraint("source IN ('JOIN','DRAW')", name=op.f("ck_waitlist_entries_source")),
        sa.CheckConstraint("(state = 'OFFERED') <= (offer_expires_at IS NOT NULL)", name=op.f("ck_waitlist_entries_offer")),
    )
    op.create_index("uq_waitlist_entries_live", "waitlist_entries", ["child_id", "group_id"], unique=True,
                    postgresql_where=sa.text("state IN ('WAITING','OFFERED')"))
    op.create_index("ix_waitlist_entries_queue", "waitlist_entries", ["group_id", "queue_no"],
                    postgresql_where=sa.text("state = 'WAITING'"))
    op.create_index("ix_waitlist_entries_offers", "waitlist_entries", ["offer_expires_at"],
                    postgresql_where=sa.text("state = 'OFFERED'"))
    op.create_index("ix_waitlist_entries_certificate", "waitlist_entries", ["certificate_id"])


def downgrade() -> None:
    op.drop_table("waitlist_entries")
    op.execute("DROP SEQUENCE waitlist_queue_seq")
    # an application waiting for a draw holds a reserve: the draw (or a withdrawal) must settle it first
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM enrollments WHERE status = 'PENDING_DRAW') THEN"
        " RAISE EXCEPTION 'applications wait for a draw (PENDING_DRAW): run pdo-graph draw run first'; END IF; END $$"
    )
    op.drop_index("ix_enrollments_pending_draw", "enrollments")
    op.drop_index("uq_enrollments_live", "enrollments")
    op.create_index("uq_enrollments_live", "enrollments", ["child_id", "group_id"], unique=True,
                    postgresql_where=sa.text(OLD_LIVE))
    op.drop_constraint("ck_enrollments_status", "enrollments")
    op.create_check_constraint(op.f("ck_enrollments_status"), "enrollments", _statuses(OLD_STATUSES))
    op.drop_table("group_draws")
    op.drop_constraint("ck_groups_fair_window", "groups")
    op.drop_column("groups", "fair_window_minutes")
    op.drop_column("groups", "enrollment_opens_at")
