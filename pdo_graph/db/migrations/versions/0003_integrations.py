"""integrations: catalog source settings, feed position, per-item feed state, richer run records

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 16:00:00

- catalog_sources: activity -> direction map (OpenActive), the feed position of the last committed
  page (for the RPDE ordering check), the full re-harvest in progress, when the feed end was last
  reached; one source per (provider, feed URL); checks on the enumerations.
- catalog_sync_runs: unchanged / skipped (stale) counts, a localisable message (key + params),
  events (retries, rate limits, token re-fetches), the trigger and whether it was a full harvest.
- catalog_feed_items: per source and feed item, the last applied ``modified`` (stale items are
  ignored), whether it is deleted, and the full harvest that last saw it.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DIRECTIONS = "'TECHNICAL', 'NATURAL_SCIENCE', 'PHYSICAL_SPORTS', 'ARTS', 'TOURISM_LOCAL_HISTORY', 'SOCIAL_HUMANITARIAN'"


def upgrade() -> None:
    jsonb_list = sa.text("'[]'::jsonb")
    op.add_column("catalog_sources", sa.Column("activity_directions", postgresql.JSONB(astext_type=sa.Text()), server_default=jsonb_list, nullable=False))
    op.add_column("catalog_sources", sa.Column("position_modified", sa.BigInteger(), nullable=True))
    op.add_column("catalog_sources", sa.Column("position_id", sa.Text(), nullable=True))
    op.add_column("catalog_sources", sa.Column("harvest_run_id", sa.BigInteger(), nullable=True))
    op.add_column("catalog_sources", sa.Column("caught_up_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("catalog_sources", sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False))
    op.create_unique_constraint("uq_catalog_sources_provider_feed", "catalog_sources", ["provider_id", "feed_url"])
    op.create_check_constraint(op.f("ck_catalog_sources_format"), "catalog_sources", "format IN ('PDO_CATALOG_V1', 'OPENACTIVE_RPDE')")
    op.create_check_constraint(op.f("ck_catalog_sources_client_auth"), "catalog_sources", "client_auth IN ('CLIENT_SECRET_BASIC', 'PRIVATE_KEY_JWT')")
    op.create_check_constraint(op.f("ck_catalog_sources_interval"), "catalog_sources", "interval_minutes BETWEEN 1 AND 10080")
    op.create_check_constraint(op.f("ck_catalog_sources_direction"), "catalog_sources", f"default_direction IS NULL OR default_direction IN ({DIRECTIONS})")

    op.add_column("catalog_sync_runs", sa.Column("unchanged", sa.Integer(), server_default="0", nullable=False))
    op.add_column("catalog_sync_runs", sa.Column("skipped", sa.Integer(), server_default="0", nullable=False))
    op.add_column("catalog_sync_runs", sa.Column("message_key", sa.Text(), nullable=True))
    op.add_column("catalog_sync_runs", sa.Column("message_params", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False))
    op.add_column("catalog_sync_runs", sa.Column("events", postgresql.JSONB(astext_type=sa.Text()), server_default=jsonb_list, nullable=False))
    op.add_column("catalog_sync_runs", sa.Column("trigger", sa.String(length=12), server_default="MANUAL", nullable=False))
    op.add_column("catalog_sync_runs", sa.Column("full_harvest", sa.Boolean(), server_default="false", nullable=False))
    op.create_check_constraint(op.f("ck_catalog_sync_runs_status"), "catalog_sync_runs", "status IN ('RUNNING', 'SUCCEEDED', 'PARTIAL', 'FAILED')")

    op.create_table(
        "catalog_feed_items",
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("harvest_run_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["catalog_sources.id"], name=op.f("fk_catalog_feed_items_source_id_catalog_sources"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source_id", "kind", "item_id", name=op.f("pk_catalog_feed_items")),
    )


def downgrade() -> None:
    op.drop_table("catalog_feed_items")
    op.drop_constraint(op.f("ck_catalog_sync_runs_status"), "catalog_sync_runs", type_="check")
    for column in ("full_harvest", "trigger", "events", "message_params", "message_key", "skipped", "unchanged"):
        op.drop_column("catalog_sync_runs", column)
    for name in ("direction", "interval", "client_auth", "format"):
        op.drop_constraint(op.f(f"ck_catalog_sources_{name}"), "catalog_sources", type_="check")
    op.drop_constraint("uq_catalog_sources_provider_feed", "catalog_sources", type_="unique")
    for column in ("updated_at", "caught_up_at", "harvest_run_id", "position_id", "position_modified", "activity_directions"):
        op.drop_column("catalog_sources", column)
