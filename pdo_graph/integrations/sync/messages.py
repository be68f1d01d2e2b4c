"""What a run records and shows: refused items as stored failures, problems as paths into the feed
item, and the run's messages rendered in Russian or English."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pdo_graph.domain.catalog import GroupData
from pdo_graph.domain.errors import Problem
from pdo_graph.domain.messages import render


def in_feed_item(problems: Sequence[Problem], format_: str, groups: Sequence[GroupData]) -> list[Problem]:
    """The catalog's problems of an item (its own field names: ``["groups", "0", "capacity"]``) as
    paths into the feed item: under ``["data"]``, a group's under ``["data", "groups", <its id>]``
    (pdo-catalog/1) or ``["data"]`` (OpenActive, whose item is its one group)."""
    out = []
    for p in problems:
        path = list(p.field or ())
        if len(path) >= 2 and path[0] == "groups" and path[1].isdigit() and int(path[1]) < len(groups):
            group = ["groups", groups[int(path[1])].external_id or ""] if format_ == "PDO_CATALOG_V1" else []
            path = [*group, *path[2:]]
        out.append(Problem(p.code, p.key, ["data", *path], **p.params))
    return out


def failure(item_id: str, kind: str, problems: Sequence[Problem]) -> dict[str, Any]:
    """A refused item as a run stores it (``catalog_sync_runs.failures``)."""
    return {
        "externalId": item_id,
        "kind": kind,
        "problems": [{"key": p.key, "params": p.params, "field": p.field} for p in problems],
    }


def render_message(key: str, params: dict[str, Any] | None, lang: str) -> str:
    """A stored message; a ``cause`` parameter (a nested key and params) is rendered first."""
    values = dict(params or {})
    cause = values.get("cause")
    if isinstance(cause, dict):
        values["cause"] = render_message(str(cause.get("key")), cause.get("params") or {}, lang)
    return render(key, lang, values)


def render_failure(stored: dict[str, Any], lang: str) -> str:
    """A stored failure as one line: ``groups.G-2.capacity: <message>; ...``."""
    parts = []
    for p in stored.get("problems", []):
        message = render_message(str(p.get("key")), p.get("params") or {}, lang)
        path = [str(x) for x in (p.get("field") or [])]
        if path and path[0] == "data":
            path = path[1:]
        parts.append(f"{'.'.join(path)}: {message}" if path else message)
    return "; ".join(parts)
