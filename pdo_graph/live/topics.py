"""The channel of live updates and its topics: what the triggers of migration 0040 announce.

A payload is ``{"topic": "<topic>", "key": <key>}``; the key is an id, or for notifications the
md5 of the recipient guardian's subject (a routing key of fixed size).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from enum import StrEnum

import orjson

CHANNEL = "pdo_live"


class Topic(StrEnum):
    GROUP = "group"  # seats taken or capacity of a group changed; key: the group's id
    CERTIFICATE = "certificate"  # a balance of the certificate changed; key: the certificate's id
    ENROLLMENT = "enrollment"  # an enrollment's status changed; key: its id
    NOTIFICATION = "notification"  # a notification was added; key: notification_key(guardian subject)


def notification_key(subject: str) -> str:
    """The key of a guardian's notifications on the channel (the trigger computes ``md5(subject)``)."""
    return hashlib.md5(subject.encode(), usedforsecurity=False).hexdigest()


def parse(payload: str) -> tuple[str, Hashable] | None:
    """(topic, key) of a payload, or None when it is not one of ours."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    topic, key = data.get("topic"), data.get("key")
    if not isinstance(topic, str) or not isinstance(key, int | str) or isinstance(key, bool):
        return None
    return topic, key
