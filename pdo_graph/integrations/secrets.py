"""Secrets of catalog sources (client secrets, private keys), encrypted at rest.

The key is derived from ``PDO_SECRET_KEY`` by the service's crypto helper (``pdo_graph.crypto``:
HKDF-SHA256, Fernet: AES-128-CBC + HMAC-SHA256, authenticated). A sealed secret is ``v1.`` + a
Fernet token of a small JSON document (the kind of secret, its value and, for private keys, the
key id and algorithm). Secrets never appear in reprs, logs or API responses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from pdo_graph.config import Settings
from pdo_graph.crypto import catalog_secret_key, fernet

SecretKind = Literal["client_secret", "private_key"]
_PREFIX = "v1."
_SALT = b"pdo-graph/catalog-source-secrets"
_INFO = b"fernet-v1"


class SecretUnreadable(Exception):
    """A sealed secret cannot be opened (PDO_SECRET_KEY missing or changed, or data damaged)."""


class BadPrivateKey(ValueError):
    """The uploaded PEM is not a usable private key; ``reason`` is a message key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SourceSecret:
    kind: SecretKind
    value: str = field(repr=False)
    key_id: str | None = None
    alg: str | None = None


class SecretBox:
    """Seals and opens source secrets with the key derived from ``PDO_SECRET_KEY``."""

    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("empty secret key")
        self._fernet = fernet(secret_key.encode(), _SALT, _INFO)

    def __repr__(self) -> str:
        return "SecretBox(<hidden>)"

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox | None:
        key = catalog_secret_key(settings)  # PDO_SECRET_KEY, or the dev mode's generated key
        return cls(key) if key else None

    def seal(self, secret: SourceSecret) -> str:
        doc = {"kind": secret.kind, "value": secret.value, "kid": secret.key_id, "alg": secret.alg}
        return _PREFIX + self._fernet.encrypt(json.dumps(doc).encode()).decode()

    def open(self, sealed: str) -> SourceSecret:
        if not sealed.startswith(_PREFIX):
            raise SecretUnreadable("unknown format")
        try:
            doc = json.loads(self._fernet.decrypt(sealed[len(_PREFIX) :].encode()))
        except (InvalidToken, ValueError) as exc:
            raise SecretUnreadable("cannot decrypt") from exc
        kind = doc.get("kind")
        if kind not in ("client_secret", "private_key") or not isinstance(doc.get("value"), str):
            raise SecretUnreadable("bad content")
        return SourceSecret(kind=kind, value=doc["value"], key_id=doc.get("kid"), alg=doc.get("alg"))


def open_secret(settings: Settings, sealed: str | None) -> SourceSecret:
    """The secret of a source; SecretUnreadable when it is absent or cannot be opened."""
    box = SecretBox.from_settings(settings)
    if box is None or sealed is None:
        raise SecretUnreadable("no key" if box is None else "no secret")
    return box.open(sealed)


def normalize_private_key(pem: str) -> tuple[str, str]:
    """A PKCS#8 PEM and the JWS algorithm for an uploaded private key; raises BadPrivateKey.

    RSA (2048 bits or more) signs RS256, EC P-256 / P-384 / P-521 ES256 / ES384 / ES512, Ed25519 EdDSA.
    Encrypted PEMs are refused (the key is encrypted at rest by us).
    """
    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except TypeError as exc:  # a password-protected PEM
        raise BadPrivateKey("source_key_encrypted") from exc
    except ValueError as exc:
        raise BadPrivateKey("source_key_invalid") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise BadPrivateKey("source_key_weak")
        alg = "RS256"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
        if key.curve.name not in algs:
            raise BadPrivateKey("source_key_unsupported")
        alg = algs[key.curve.name]
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        alg = "EdDSA"
    else:
        raise BadPrivateKey("source_key_unsupported")
    normalized = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return normalized, alg
