"""Bearer JWTs from an external OpenID Provider (``PDO_AUTH_MODE=oidc``).

The issuer's keys come from its JWKS, found through OIDC discovery, and are cached. A token signed
by a key the cache does not know makes one re-fetch of the JWKS (key rotation), at most one per
``min_refetch_interval`` seconds; concurrent verifications wait for the same fetch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import JWKRegistry, Key

from pdo_graph.auth.principal import AuthError, ClaimNames, Principal, principal_from_claims
from pdo_graph.auth.tokens import validate_claims
from pdo_graph.net import is_secure_endpoint

log = logging.getLogger(__name__)

ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt", "jwt"})
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}  # alg prefix -> JWK kty


class IssuerUnavailable(AuthError):
    """The issuer's discovery document or JWKS could not be fetched (HTTP 503 rather than 401)."""

    def __init__(self) -> None:
        super().__init__("Не удалось получить ключи издателя", "The token issuer's keys could not be fetched")


def _forbidden(alg: str) -> bool:
    return alg.lower() == "none" or alg.upper().startswith("HS")


class OidcVerifier:
    """Verifies access tokens of one issuer against its published keys."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | None,
        algorithms: list[str],
        names: ClaimNames,
        http: httpx.AsyncClient | None = None,
        min_refetch_interval: float = 30.0,
    ) -> None:
        bad = [alg for alg in algorithms if _forbidden(alg)]
        if bad:
            raise ValueError(f"algorithms not allowed for OIDC tokens: {bad}")
        if not is_secure_endpoint(issuer):
            raise ValueError(f"the OIDC issuer must be https (http only on loopback): {issuer}")
        self._issuer = issuer
        self._audience = audience
        self._algorithms = frozenset(algorithms)
        self._names = names
        self._own_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=10.0)
        self._min_refetch_interval = min_refetch_interval
        self._lock = asyncio.Lock()
        self._jwks_uri: str | None = None
        self._keys: dict[str, list[Key]] | None = None  # kid -> keys
        self._fetches = 0  # fetch attempts finished so far, successful or not
        self._last_refetch: float | None = None

    async def verify(self, token: str) -> Principal:
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError) as exc:
            raise AuthError("Недействительный токен: неверный формат", "Invalid token: malformed") from exc
        alg = header.get("alg")
        if not isinstance(alg, str) or _forbidden(alg) or alg not in self._algorithms:
            raise AuthError(
                f"Недопустимый алгоритм подписи токена: {str(alg)[:20]}",
                f"Signature algorithm not allowed: {str(alg)[:20]}",
            )
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES:
            raise AuthError(
                f"Недопустимый тип токена (typ): {str(typ)[:20]}", f"Token type (typ) not allowed: {str(typ)[:20]}"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("В заголовке токена нет идентификатора ключа (kid)", "The token header has no key id (kid)")

        key = await self._key_for(kid, alg)
        try:
            decoded = jwt.decode(token, key, algorithms=[alg])
        except BadSignatureError as exc:
            raise AuthError(
                "Недействительный токен: подпись не проверена", "Invalid token: the signature does not verify"
            ) from exc
        except (JoseError, ValueError) as exc:
            raise AuthError(
                "Недействительный токен: не удалось проверить подпись",
                "Invalid token: the signature could not be checked",
            ) from exc
        claims = dict(decoded.claims)
        validate_claims(claims, issuer=self._issuer, audience=self._audience)
        return principal_from_claims(claims, self._names)

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def _key_for(self, kid: str, alg: str) -> Key:
        key = self._pick(kid, alg)
        if key is not None:
            return key
        seen = self._fetches
        async with self._lock:
            key = self._pick(kid, alg)
            # A fetch that ended while we waited counts as ours: never fetch twice in a row.
            if key is None and self._fetches == seen:
                if self._keys is None:
                    await self._fetch()
                elif self._refetch_allowed():
                    self._last_refetch = time.monotonic()
                    await self._fetch()
                key = self._pick(kid, alg)
            if self._keys is None:
                raise IssuerUnavailable()
        if key is None:
            raise AuthError("Токен подписан неизвестным ключом (kid)", "The token is signed with an unknown key (kid)")
        return key

    def _refetch_allowed(self) -> bool:
        last = self._last_refetch
        return last is None or time.monotonic() - last >= self._min_refetch_interval

    def _pick(self, kid: str, alg: str) -> Key | None:
        kty = _KEY_TYPES.get(alg[:2])
        for key in (self._keys or {}).get(kid, []):
            if key.key_type == kty and key.alg in (None, alg) and key.get("use") in (None, "sig"):
                return key
        return None

    async def _fetch(self) -> None:
        try:
            await self._load()
        finally:
            self._fetches += 1

    async def _load(self) -> None:
        try:
            if self._jwks_uri is None:
                discovery_url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
                meta = await self._get_json(discovery_url)
                if meta.get("issuer") != self._issuer:
                    log.error("OIDC discovery at %s names issuer %r", discovery_url, meta.get("issuer"))
                    raise AuthError(
                        "Издатель в документе обнаружения OIDC не совпадает с настроенным",
                        "The issuer in the OIDC discovery document is not the configured one",
                    )
                jwks_uri = meta.get("jwks_uri")
                if not isinstance(jwks_uri, str):
                    raise ValueError("no jwks_uri")
                if not is_secure_endpoint(jwks_uri):  # keys over plain http could be swapped on the way
                    raise ValueError(f"jwks_uri is not https: {jwks_uri}")
                self._jwks_uri = jwks_uri
            jwks = await self._get_json(self._jwks_uri)
            raw_keys = jwks.get("keys")
            if not isinstance(raw_keys, list):
                raise ValueError("no keys")
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("cannot fetch keys of OIDC issuer %s: %s", self._issuer, exc)
            raise IssuerUnavailable() from exc
        keys: dict[str, list[Key]] = {}
        for data in raw_keys:
            try:
                key = JWKRegistry.import_key(data)
            except (JoseError, ValueError, TypeError, KeyError):
                continue  # RFC 7517 §5: ignore keys we cannot use
            if key.kid:
                keys.setdefault(key.kid, []).append(key)
        self._keys = keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError(f"{url}: not a JSON object")
        return data
