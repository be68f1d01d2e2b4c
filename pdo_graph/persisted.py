"""Persisted documents: the store behind automatic persisted queries (APQ) and trusted documents,
and the reader of trusted-documents manifests (the protocol is :mod:`pdo_graph.transport.documents`).

The store's interface is small on purpose (:class:`DocumentStore`: ``lookup(key) -> text | None``,
``register(key, text)``): what runs a document may key its own caches on the same keys.

A manifest is either a JSON object ``{"<id>": "<document>"}`` (GraphQL Codegen's client preset
``persisted-documents.json``, Relay's ``persisted_queries.json``) or Apollo's persisted query
manifest (``{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id",
"body", ...}]}``). An id of 64 hex digits must be the sha256 of its document; other ids (Relay's md5)
are names. Every document is also found by its sha256.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MAX_DOCUMENTS = 5000
MAX_CHARS = 8_000_000  # characters of all registered documents together
_SHA256 = re.compile(r"[0-9a-f]{64}")


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ManifestError(ValueError):
    """A trusted-documents manifest that cannot be used (the message says why, in one line)."""


def load_manifest(path: Path) -> dict[str, str]:
    """The manifest's documents by id (each also under its sha256); ``ManifestError`` when unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path} is not JSON: {exc}") from exc
    entries: list[tuple[Any, Any]]
    if isinstance(data, dict) and data.get("format") == "apollo-persisted-query-manifest":
        if data.get("version") != 1 or not isinstance(data.get("operations"), list):
            raise ManifestError(f"{path}: expected version 1 with a list of operations")
        entries = [(op.get("id"), op.get("body")) for op in data["operations"] if isinstance(op, dict)]
        if len(entries) != len(data["operations"]):
            raise ManifestError(f"{path}: every operation must be an object with id and body")
    elif isinstance(data, dict):
        entries = list(data.items())
    else:
        raise ManifestError(f"{path}: expected an object of id -> document, or Apollo's persisted query manifest")
    documents: dict[str, str] = {}
    for key, text in entries:
        if not isinstance(key, str) or not key or not isinstance(text, str) or not text.strip():
            raise ManifestError(f"{path}: every entry needs a non-empty id and document text")
        digest = sha256_hex(text)
        if _SHA256.fullmatch(key.lower()) and key.lower() != digest:
            raise ManifestError(f"{path}: the id {key[:16]}… is not the sha256 of its document")
        documents[key] = text
        documents[digest] = text
    if not documents:
        raise ManifestError(f"{path}: no documents")
    return documents


class DocumentStore:
    """Documents by key (a sha256, or a trusted manifest's id).

    Without ``trusted`` it is APQ's registry (bounded, least recently used out); with ``trusted`` it
    holds exactly the manifest and ``register`` keeps nothing."""

    def __init__(
        self, trusted: Mapping[str, str] | None = None, max_documents: int = MAX_DOCUMENTS, max_chars: int = MAX_CHARS
    ) -> None:
        self.trusted_only = trusted is not None
        self.max_documents = max_documents
        self.max_chars = max_chars
        self._documents: OrderedDict[str, str] = OrderedDict(trusted or {})
        self._chars = 0
        self._lock = threading.Lock()

    def lookup(self, key: str) -> str | None:
        """The document registered (or trusted) under ``key``, or None."""
        with self._lock:
            text = self._documents.get(key)
            if text is not None and not self.trusted_only:
                self._documents.move_to_end(key)
            return text

    def register(self, key: str, text: str) -> None:
        """Keep a document that passed the gate under its sha256 (APQ); nothing in trusted mode."""
        if self.trusted_only or len(text) > self.max_chars:
            return
        with self._lock:
            if key in self._documents:
                self._documents.move_to_end(key)
                return
            self._documents[key] = text
            self._chars += len(text)
            while len(self._documents) > self.max_documents or self._chars > self.max_chars:
                _, dropped = self._documents.popitem(last=False)
                self._chars -= len(dropped)

    def __len__(self) -> int:
        return len(self._documents)
