"""pdo-graph: GraphQL backend for personified funding of supplementary education (ПФДО)."""

__version__ = "0.1.0"
