"""Queries and mutations of the integrations area (catalog sources, sync runs, push)."""

from __future__ import annotations

# Root fields of this area, merged into Query and Mutation by pdo_graph.schema.root.
QUERIES: list[type] = []
MUTATIONS: list[type] = []
TYPES: list[type] = []
