"""Persisted documents: Apollo's automatic persisted queries (APQ) and trusted documents.

**APQ** (the default): a client sends ``extensions: {"persistedQuery": {"version": 1, "sha256Hash":
"<hex>"}}`` without the query; a known hash runs its document, an unknown one is answered
``PersistedQueryNotFound`` (code ``PERSISTED_QUERY_NOT_FOUND``, HTTP 404), and the client sends the
query with its hash once: the hash is verified, and the document is registered once it passed the
gate (an invalid or refused document is never kept). The registry is per process, in memory,
least recently used first out, bounded in documents and characters: a worker that has not seen a
hash asks for the query once more. GET and POST alike.

**Trusted documents** (``PDO_TRUSTED_DOCUMENTS=manifest.json``, for production): only the documents
of the manifest run, whether sent by hash, by ``documentId`` or as full text; nothing is registered.
The manifest's formats and the store (``lookup(key) -> text | None``, ``register(key, text)``) are
:mod:`pdo_graph.persisted`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pdo_graph.persisted import DocumentStore, sha256_hex
from pdo_graph.transport.params import Refusal

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Resolved:
    """The document a request runs: its text, its key in the store (None: sent as plain text), and
    whether it is to be registered once it passed the gate."""

    query: str
    key: str | None = None
    register: bool = False


def wants_persisted(params: Mapping[str, Any]) -> bool:
    """Whether the request names a persisted document (then ``query`` may be absent)."""
    extensions = params.get("extensions")
    return params.get("documentId") is not None or (
        isinstance(extensions, dict) and extensions.get("persistedQuery") is not None
    )


def resolve(store: DocumentStore, params: Mapping[str, Any]) -> Resolved | Refusal:
    """The document of a request, by APQ's extension, a ``documentId`` or its text."""
    query: str | None = params.get("query")
    document_id = params.get("documentId")
    extensions = params.get("extensions") or {}
    persisted = extensions.get("persistedQuery")
    if document_id is not None:
        if not isinstance(document_id, str) or not document_id:
            return Refusal(400, "BAD_REQUEST", "document_id_type")
        key = document_id.removeprefix("sha256:")
        text = store.lookup(key)
        if text is None:
            return Refusal(404, "PERSISTED_QUERY_NOT_FOUND", "persisted_not_found")
        return Resolved(text, key)
    if persisted is not None:
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            return Refusal(400, "PERSISTED_QUERY_NOT_SUPPORTED", "persisted_version")
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            return Refusal(400, "PERSISTED_QUERY_HASH_MISMATCH", "persisted_hash")
        if query is None:
            text = store.lookup(digest)
            if text is None:
                return Refusal(404, "PERSISTED_QUERY_NOT_FOUND", "persisted_not_found")
            return Resolved(text, digest)
        if sha256_hex(query) != digest:
            return Refusal(400, "PERSISTED_QUERY_HASH_MISMATCH", "persisted_hash")
        if store.trusted_only:
            return Resolved(query, digest) if store.lookup(digest) is not None else _not_allowed()
        return Resolved(query, digest, register=True)
    assert query is not None  # check_params: a request without a persisted document has its query
    if store.trusted_only:
        digest = sha256_hex(query)
        return Resolved(query, digest) if store.lookup(digest) is not None else _not_allowed()
    return Resolved(query)


def _not_allowed() -> Refusal:
    return Refusal(403, "PERSISTED_QUERY_NOT_ALLOWED", "persisted_not_allowed")
