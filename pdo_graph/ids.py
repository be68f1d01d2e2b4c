"""Opaque global IDs (Relay): base64 of ``Type:pk``."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache


@lru_cache(maxsize=65536)  # a page of rows encodes the same ids request after request
def encode_id(type_name: str, pk: int | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def decode_id(global_id: str) -> tuple[str, str] | None:
    """(type name, pk) or None when the id is malformed."""
    if not global_id or len(global_id) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, sep, pk = raw.partition(":")
    if not sep or not type_name or not pk:
        return None
    return type_name, pk


def decode_pk(global_id: str, type_name: str) -> int | None:
    """The integer pk of an id of the expected type, or None."""
    decoded = decode_id(global_id)
    if decoded is None or decoded[0] != type_name:
        return None
    try:
        value = int(decoded[1])
    except ValueError:
        return None
    return value if 0 < value < 2**63 else None
