"""Encryption at rest and keyed hashes: the one crypto helper of the service.

Keys are derived from configured secrets with HKDF-SHA256, a salt per use and an ``info`` per
purpose; encryption is Fernet (AES-128-CBC + HMAC-SHA256, authenticated, a random IV per token).
Catalog-source secrets (``integrations/secrets.py``) use one derived Fernet key. Personal data
(СНИЛС) uses a ``KeyRing``: named keys, so that a key can be rotated — the newest key seals, every
key still opens what it sealed (the key id is written before each token), and the first key of the
ring keys the HMAC used for duplicate matching (a hash must stay comparable across rotations).

``PDO_PERSONAL_DATA_KEYS`` holds the ring: ``id:base64key,id:base64key`` (oldest first, each key
at least 32 random bytes). Without it, in dev auth mode, a ring is generated once into
``$PDO_DATA_DIR/personal-data-keys`` (like the dev signing key and the catalog-secret key: one
mechanism, ``dev_secret``); in any other mode the service refuses to start without it.

Short-lived signed links (the analysts' CSV export) carry a payload and its HMAC-SHA256 under a key
derived from ``PDO_URL_SIGNING_KEY``, or, when it is not set, from a key generated once into
``$PDO_DATA_DIR/url-signing-key`` by the same mechanism (in every mode: a link lives minutes, so a
lost key costs a fresh link; set the variable when several machines serve).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pdo_graph.config import Settings

_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_PERSONAL_SALT = b"pdo-graph/personal-data"
KEY_FILE = "personal-data-keys"
SECRET_KEY_FILE = "secret-key"


def derive(secret: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def fernet(secret: bytes, salt: bytes, info: bytes) -> Fernet:
    """A Fernet key derived from a configured secret for one purpose."""
    return Fernet(base64.urlsafe_b64encode(derive(secret, salt, info)))


class KeyUnavailable(Exception):
    """Sealed data names a key that is not configured, or cannot be opened with it."""


class KeyRing:
    """Named keys, oldest first: the newest seals, any opens, the first keys the matching hash."""

    def __init__(self, keys: Sequence[tuple[str, bytes]], salt: bytes = _PERSONAL_SALT) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        for kid, secret in keys:
            if not _KEY_ID.match(kid):
                raise ValueError(f"bad key id {kid!r}")
            if len(secret) < 32:
                raise ValueError(f"key {kid} is shorter than 32 bytes")
        self._boxes = {kid: fernet(secret, salt, b"seal-v1") for kid, secret in keys}
        if len(self._boxes) != len(keys):
            raise ValueError("duplicate key id")
        self.current = keys[-1][0]
        self._mac_key = derive(keys[0][1], salt, b"match-v1")

    def __repr__(self) -> str:
        return f"KeyRing(ids={list(self._boxes)!r})"

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        keys: list[tuple[str, bytes]] = []
        for part in spec.replace("\n", ",").split(","):
            part = part.strip()
            if not part:
                continue
            kid, sep, encoded = part.partition(":")
            if not sep:
                raise ValueError("each key is id:base64")
            try:
                secret = base64.b64decode(encoded.strip() + "=" * (-len(encoded.strip()) % 4), validate=False)
            except ValueError as exc:
                raise ValueError(f"key {kid.strip()} is not base64") from exc
            keys.append((kid.strip(), secret))
        return cls(keys)

    @property
    def ids(self) -> list[str]:
        return list(self._boxes)

    def seal(self, plaintext: str) -> str:
        """``<key id>:<Fernet token>`` under the newest key."""
        return f"{self.current}:{self._boxes[self.current].encrypt(plaintext.encode()).decode()}"

    def open(self, sealed: str) -> str:
        kid, _, token = sealed.partition(":")
        box = self._boxes.get(kid)
        if box is None:
            raise KeyUnavailable(f"key {kid!r} is not configured")
        try:
            return box.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise KeyUnavailable(f"cannot open data sealed with key {kid!r}") from exc

    @staticmethod
    def key_id(sealed: str) -> str:
        return sealed.partition(":")[0]

    def digest(self, value: str) -> str:
        """HMAC-SHA256 (hex) of a normalised value: equal values match, the value is not recoverable."""
        return hmac.new(self._mac_key, value.encode(), hashlib.sha256).hexdigest()


def new_key_spec(kid: str) -> str:
    """A fresh ``id:base64`` entry (for ``PDO_PERSONAL_DATA_KEYS`` or the dev key file)."""
    return f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def dev_secret(data_dir: Path, name: str, generate: Callable[[], str], *, create: bool = True) -> str | None:
    """A generated secret kept in the data directory (dev mode's signing key, personal-data ring and
    catalog-secret key; the link-signing key when none is configured): generated on first use with
    mode 0600, atomically (parallel workers agree on one), read back on every later start. None when
    it is absent and ``create`` is false."""
    path = data_dir / name
    if not path.exists():
        if not create:
            return None
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(generate())
        try:
            os.link(tmp, path)  # fails when another process won the race: its secret is used
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text()


@lru_cache(maxsize=8)
def _ring(spec: str | None, data_dir: Path, dev: bool) -> KeyRing:
    if spec:
        return KeyRing.parse(spec)
    if not dev:
        raise RuntimeError("PDO_PERSONAL_DATA_KEYS is required unless PDO_AUTH_MODE=dev")
    spec = dev_secret(data_dir, KEY_FILE, lambda: new_key_spec("dev1") + "\n")
    assert spec is not None
    return KeyRing.parse(spec)


def personal_data_keys(settings: Settings) -> KeyRing:
    """The key ring for personal data (СНИЛС): from settings, or the generated dev ring."""
    return _ring(settings.personal_data_keys, settings.data_dir.resolve(), settings.auth_mode == "dev")


def catalog_secret_key(settings: Settings) -> str | None:
    """The key that encrypts catalog-source secrets: ``PDO_SECRET_KEY``, or in dev mode one generated
    into ``$PDO_DATA_DIR/secret-key``; None outside dev mode without it (the settings refuse to start)."""
    if settings.secret_key:
        return settings.secret_key
    if settings.auth_mode != "dev":
        return None
    return dev_secret(settings.data_dir.resolve(), SECRET_KEY_FILE, lambda: secrets.token_urlsafe(48))


# --- signed links --------------------------------------------------------------------------------
URL_KEY_FILE = "url-signing-key"
_URL_SALT = b"pdo-graph/signed-urls"


@lru_cache(maxsize=8)
def _url_key(configured: str | None, data_dir: Path) -> bytes:
    secret = configured or dev_secret(
        data_dir, URL_KEY_FILE, lambda: base64.b64encode(secrets.token_bytes(32)).decode()
    )
    assert secret is not None
    return derive(secret.strip().encode(), _URL_SALT, b"hmac-v1")


def url_signing_key(settings: Settings) -> bytes:
    """The key of short-lived signed links: derived from ``PDO_URL_SIGNING_KEY`` (required outside
    dev mode: a link signed on one machine must open on the others), or in dev mode from a key
    generated once into the data directory."""
    if not settings.url_signing_key and settings.auth_mode != "dev":
        raise RuntimeError("PDO_URL_SIGNING_KEY is required when PDO_AUTH_MODE is not dev")
    return _url_key(settings.url_signing_key, settings.data_dir.resolve())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_link(key: bytes, payload: dict[str, object], expires_at: int) -> str:
    """``<payload>.<mac>``: the payload (JSON with its expiry, base64url) and its HMAC-SHA256."""
    body = _b64(json.dumps({**payload, "exp": expires_at}, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def open_link(key: bytes, token: str, now: float) -> dict[str, object] | None:
    """The payload of a signed link, or None when it is forged, damaged or expired."""
    body, sep, mac = token.partition(".")
    if not sep or len(token) > 8192:
        return None
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, mac):
        return None
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int) or payload["exp"] < now:
        return None
    return payload
