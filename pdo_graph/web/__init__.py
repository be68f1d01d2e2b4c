"""Pages served by the server itself (from its own origin, with pinned, integrity-checked assets)."""
