"""analytics: program funding kind, when a contract ended, the analysts' aggregates

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-08 12:00:00

- programs.funding_kind (CERTIFICATE | MUNICIPAL | PAID, default CERTIFICATE): a dimension of the
  analysts' tables. Only read here; the feature that sets it comes with its own issue.
- enrollments.ended_at: when a contract or an application reached its final status (set by the
  enrollment service from now on). Existing ended rows get the time of their last ledger entry,
  else their decision or creation time (the best record there is of when they ended).
- analytics_cells: the aggregates the analysts' tables are read from, one generation per refresh
  (pdo_graph/domain/analytics/refresh.py); analytics_state: the live generation and its time.
  No row of either names a child: a cell-month behind fewer children than the threshold keeps
  their pseudonyms (a hash under a random key of that refresh, never stored), so that the children
  of a range of months can be counted exactly.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "programs", sa.Column("funding_kind", sa.Text, nullable=False, server_default="CERTIFICATE")
    )
    op.create_check_constraint(
        "ck_programs_funding_kind", "programs", "funding_kind IN ('CERTIFICATE', 'MUNICIPAL', 'PAID')"
    )
    op.add_column("enrollments", sa.Column("ended_at", sa.DateTime(timezone=True)))
    op.execute(
        "UPDATE enrollments e SET ended_at = coalesce("
        " (SELECT max(l.created_at) FROM ledger_entries l WHERE l.enrollment_id = e.id), e.decided_at, e.created_at)"
        " WHERE e.status NOT IN ('REQUESTED', 'ACTIVE')"
    )
    op.create_table(
        "analytics_state",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_month", sa.Date, nullable=False),
        sa.Column("first_month", sa.Date),
        sa.Column("refresh_ms", sa.Integer, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_analytics_state_single"),
    )
    op.create_table(
        "analytics_cells",
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("gset", sa.SmallInteger, nullable=False),
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("municipality", sa.String(2), nullable=False),
        sa.Column("age", sa.SmallInteger),
        sa.Column("direction", sa.String(24)),
        sa.Column("provider_id", sa.BigInteger),
        sa.Column("funding_kind", sa.String(12)),
        *[sa.Column(name, sa.BigInteger) for name in CELL_COLUMNS],
        *[sa.Column(name, postgresql.ARRAY(sa.BigInteger)) for name in ID_COLUMNS],
    )
    # concatenates the pseudonym arrays of small cells (refresh.py)
    op.execute("CREATE AGGREGATE analytics_ids_cat(bigint[]) (SFUNC = array_cat, STYPE = bigint[])")
    op.create_index(
        "ix_analytics_cells_lookup", "analytics_cells", ["generation", "gset", "month", "municipality"]
    )


# the figures of a cell (pdo_graph/db/tables.py ANALYTICS_COLUMNS: keep the two lists equal)
CELL_COLUMNS = (
    "certificates",
    "funded",
    "queued",
    "enrolled",
    "enrollments",
    "enrollments_children",
    "credited",
    "credited_children",
    "reserved",
    "reserved_children",
    "spent",
    "spent_children",
    "expired",
    "expired_children",
    "completeness_sum",
    "completeness_reports",
    "completeness_children",
)


# pseudonyms of the children behind a small flow cell (tables.py ANALYTICS_ID_COLUMNS)
ID_COLUMNS = ("enrollments_ids", "credited_ids", "spent_ids", "expired_ids", "completeness_ids")


def downgrade() -> None:
    op.execute("DROP AGGREGATE analytics_ids_cat(bigint[])")
    op.drop_table("analytics_cells")
    op.drop_table("analytics_state")
    op.drop_column("enrollments", "ended_at")
    op.drop_constraint("ck_programs_funding_kind", "programs")
    op.drop_column("programs", "funding_kind")
