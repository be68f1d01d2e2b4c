"""User-facing messages of the enrollment area: key -> (Russian, English)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {}
