"""job queue: procrastinate's schema (the distributed queue of background work)

Revision ID: 0070
Revises: 0090
Create Date: 2026-12-01 18:00:00

The tables, types and functions of procrastinate (pinned in pyproject.toml; pdo_graph/jobs/ runs
the work): jobs, their events, periodic defers (one defer of a periodic task per tick across every
worker), workers and their heartbeats. The SQL is the package's own schema file, applied in this
migration's transaction, so the app never creates tables by itself and ``pdo-graph migrate`` is the
one way the schema arrives. A later procrastinate with schema changes comes with a migration of ours
that applies its migration files.
"""

from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.util.concurrency import await_only

revision = "0070"
down_revision = "0090"
branch_labels = None
depends_on = None


def _script(sql: str) -> None:
    """Run a script of many statements in the migration's transaction (asyncpg's simple protocol: a
    prepared statement holds one command, and text() would read the bodies' colons as binds)."""
    driver = op.get_bind().connection.driver_connection
    await_only(driver.execute(sql))


def upgrade() -> None:
    _script(SchemaManager.get_schema())


def downgrade() -> None:
    _script(
        """
        DO $$
        DECLARE r record;
        BEGIN
          FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%' LOOP
            EXECUTE 'DROP FUNCTION IF EXISTS ' || r.sig || ' CASCADE';
          END LOOP;
          FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'procrastinate%' LOOP
            EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(r.relname) || ' CASCADE';
          END LOOP;
          FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'c') AND t.typname LIKE 'procrastinate%' LOOP
            EXECUTE 'DROP TYPE IF EXISTS ' || quote_ident(r.typname) || ' CASCADE';
          END LOOP;
        END $$;
        """
    )
