"""Alembic environment: runs on the connection handed over by ``pdo_graph.db.engine.migrate``."""

from __future__ import annotations

from alembic import context

from pdo_graph.db.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through pdo_graph.db.engine
    raise RuntimeError("run migrations with `pdo-graph migrate`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    compare_type=True,
    on_version_apply=config.attributes.get("on_version_apply"),  # the console's progress, when shown
)
with context.begin_transaction():
    context.run_migrations()
