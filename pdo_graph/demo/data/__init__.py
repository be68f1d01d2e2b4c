"""Data tables of the demo region (no logic): ``region``, ``names``, ``organisations``, ``themes``."""
