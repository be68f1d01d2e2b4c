"""catalog search: covering indexes of searchable groups and of browsable programs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 14:00:00

- ix_groups_searchable: the navigator's group filters and orders (maxPrice, hasFreeSeats,
  coveredByCertificate, PRICE_ASC, STARTS_ON_ASC) look up the open, non-archived groups of each
  candidate program; with the INCLUDE columns that is an index-only scan.
- ix_programs_browse replaces ix_programs_muni_dir (same leading columns and predicate): searches
  without text filter programs by municipality, direction, age and certification from the index
  alone instead of reading the wide rows (description and tsvector).
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_groups_searchable ON groups (program_id, price)"
        " INCLUDE (starts_on, ends_on, capacity, seats_taken)"
        " WHERE NOT archived AND enrollment_open"
    )
    op.execute(
        "CREATE INDEX ix_programs_browse ON programs (municipality, direction, id)"
        " INCLUDE (min_age, max_age, certified, rating_sum, rating_count)"
        " WHERE NOT archived"
    )
    op.execute("DROP INDEX ix_programs_muni_dir")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_programs_muni_dir ON programs (municipality, direction) WHERE NOT archived")
    op.execute("DROP INDEX ix_programs_browse")
    op.execute("DROP INDEX ix_groups_searchable")
