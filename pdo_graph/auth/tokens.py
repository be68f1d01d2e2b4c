"""Bearer token verification: the common interface and the dev issuer."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from pdo_graph.auth.principal import AuthError, ClaimNames, Principal, Role, principal_from_claims
from pdo_graph.crypto import dev_secret

DEV_ISSUER = "urn:pdo-graph:dev"
DEV_AUDIENCE = "pdo-graph"
DEV_TOKEN_TTL = 24 * 3600  # a dev token lives a day unless asked otherwise
MAX_DEV_TOKEN_TTL = 30 * 24 * 3600  # and never longer than 30 days


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal: ...

    async def aclose(self) -> None: ...


class VerifiedTokens:
    """A verifier that remembers the tokens it accepted: a client sends the same bearer token with
    every request, and checking its ES256 signature again costs more than a whole small query.

    A token is taken from memory only while it has not expired (its ``exp``) and for at most
    ``ttl`` seconds after it was checked (a key withdrawn by the issuer stops a token within that
    time); refusals are never remembered. At most ``size`` tokens, the least recently used dropped."""

    def __init__(self, inner: TokenVerifier, ttl: float = 60.0, size: int = 4096) -> None:
        self._inner = inner
        self._ttl = ttl
        self._size = size
        self._accepted: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        now = time.time()
        hit = self._accepted.get(token)
        if hit is not None:
            until, principal = hit
            if now < until:
                self._accepted.move_to_end(token)
                return principal
            del self._accepted[token]
        principal = await self._inner.verify(token)
        until = now + self._ttl
        if principal.expires_at is not None:
            until = min(until, principal.expires_at)
        self._accepted[token] = (until, principal)
        if len(self._accepted) > self._size:
            self._accepted.popitem(last=False)
        return principal

    async def aclose(self) -> None:
        self._accepted.clear()
        await self._inner.aclose()


DEV_KEY_FILE = "dev-signing-key.json"


class DevKeyMissing(Exception):
    """No dev signing key in the data directory (the server creates it on start)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir.resolve() / DEV_KEY_FILE
        super().__init__(
            f"no dev signing key in {self.path.parent} (PDO_DATA_DIR): the server creates it on its first start;"
            " run this where the server runs, set PDO_DATA_DIR to its data directory, or pass --create"
        )


def _new_dev_key() -> str:
    key = ECKey.generate_key("P-256", parameters={"kid": f"dev-{int(time.time())}"}, private=True)
    return json.dumps(key.as_dict(private=True))


def load_or_create_dev_key(data_dir: Path) -> ECKey:
    """The dev signing key lives in the data directory; generated on first use (as every dev secret)."""
    text = dev_secret(data_dir, DEV_KEY_FILE, _new_dev_key)
    assert text is not None
    return ECKey.import_key(json.loads(text))


def load_dev_key(data_dir: Path) -> ECKey:
    """The server's dev signing key; ``DevKeyMissing`` when the data directory has none."""
    text = dev_secret(data_dir, DEV_KEY_FILE, _new_dev_key, create=False)
    if text is None:
        raise DevKeyMissing(data_dir)
    return ECKey.import_key(json.loads(text))


def mint_dev_token(
    key: ECKey,
    *,
    role: Role,
    subject: str,
    provider: str | None = None,
    municipality: str | None = None,
    region: str | None = None,
    ttl_seconds: int = DEV_TOKEN_TTL,
) -> str:
    if not 0 < ttl_seconds <= MAX_DEV_TOKEN_TTL:
        raise ValueError(f"a dev token lives from 1 second to {MAX_DEV_TOKEN_TTL} seconds (30 days)")
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": subject,
        "iat": now,
        "nbf": now - 5,
        "exp": now + ttl_seconds,
        "pdo_role": role.value,
    }
    if provider:
        claims["pdo_provider"] = provider
    if municipality:
        claims["pdo_municipality"] = municipality
    if region:
        claims["pdo_region"] = region
    header = {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def validate_claims(claims: dict[str, object], *, issuer: str, audience: str | None, leeway: int = 30) -> None:
    """Registered claims: iss, aud, exp (required), nbf, iat."""
    now = int(time.time())
    if claims.get("iss") != issuer:
        raise AuthError("Токен выпущен другим издателем", "The token was issued by another issuer")
    if audience is not None:
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if audience not in auds:
            raise AuthError(
                "Токен выпущен не для этого сервиса (aud)", "The token was not issued for this service (aud)"
            )
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        raise AuthError("В токене нет срока действия (exp)", "The token has no expiry (exp)")
    if exp + leeway < now:
        raise AuthError("Срок действия токена истёк", "The token has expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf - leeway > now:
        raise AuthError("Токен ещё не действует (nbf)", "The token is not valid yet (nbf)")


class DevVerifier:
    """Accepts tokens signed by this server's own dev key."""

    def __init__(self, key: ECKey) -> None:
        self._key = key
        self._names = ClaimNames()

    async def verify(self, token: str) -> Principal:
        try:
            decoded = jwt.decode(token, self._key, algorithms=["ES256"])
        except (JoseError, ValueError) as exc:
            raise AuthError(
                "Недействительный токен: подпись не проверена", "Invalid token: the signature does not verify"
            ) from exc
        claims = dict(decoded.claims)
        validate_claims(claims, issuer=DEV_ISSUER, audience=DEV_AUDIENCE)
        issued, expires = claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int | float) or not isinstance(expires, int | float):
            raise AuthError("В токене нет времени выпуска (iat)", "The token has no issue time (iat)")
        if expires - issued > MAX_DEV_TOKEN_TTL:
            raise AuthError(
                "Токен разработчика выпущен на срок больше 30 дней", "The dev token lives longer than 30 days"
            )
        return principal_from_claims(claims, self._names)

    async def aclose(self) -> None:
        return None
