"""balances.available: what a certificate can still spend, defined once as a generated column

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 10:00:00

``credited - reserved - spent - expired`` was written out wherever SQL needed the available amount
(the guarded debit, the facts of an application, the loaders, the period's close, the invariant
check). It is now the stored generated column ``available``; the check that it never goes below
zero is expressed on the column.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE balances ADD COLUMN available bigint"
        " GENERATED ALWAYS AS (credited - reserved - spent - expired) STORED NOT NULL"
    )
    op.execute("ALTER TABLE balances DROP CONSTRAINT ck_balances_available_non_negative")
    op.execute("ALTER TABLE balances ADD CONSTRAINT ck_balances_available_non_negative CHECK (available >= 0)")


def downgrade() -> None:
    op.execute("ALTER TABLE balances DROP CONSTRAINT ck_balances_available_non_negative")
    op.execute("ALTER TABLE balances DROP COLUMN available")
    op.execute(
        "ALTER TABLE balances ADD CONSTRAINT ck_balances_available_non_negative"
        " CHECK (credited - reserved - spent - expired >= 0)"
    )
