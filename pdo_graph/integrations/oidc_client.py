"""OAuth 2.0 client credentials against a provider's OpenID issuer, for reading its feed.

- The token endpoint comes from OIDC discovery (``/.well-known/openid-configuration``); the
  document must name the configured issuer. Discovery documents are cached per issuer.
- Tokens are fetched with authlib's ``AsyncOAuth2Client`` (built with ``token_endpoint=`` and
  ``grant_type="client_credentials"``). We never let authlib re-fetch by itself, because it would
  drop ``resource``: every fetch goes through :meth:`TokenProvider.token`, which sends ``resource``
  (RFC 8707) and ``scope`` each time.
- ``private_key_jwt`` uses authlib's ``PrivateKeyJWT`` built without a claims dict, so every
  assertion carries a fresh ``jti`` (providers with replay protection refuse a reused one).
- A token is cached until shortly before it expires; :meth:`TokenProvider.invalidate` drops it
  (the feed answered 401), and the next call fetches a new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey

from pdo_graph.integrations.secrets import SourceSecret
from pdo_graph.net import is_secure_endpoint

with warnings.catch_warnings():
    # authlib 1.9 prefers the `httpx2` package and warns when it falls back to httpx, which it supports.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

DISCOVERY_TTL = 3600.0
MAX_LEEWAY = 60.0


class TokenError(Exception):
    """No token: ``key`` / ``params`` describe why (message keys). ``transient`` errors may be retried."""

    def __init__(self, key: str, transient: bool = False, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.transient = transient
        self.params = params


@dataclass(frozen=True)
class ClientConfig:
    """How to get a token for one source."""

    issuer: str
    client_id: str
    auth_method: str  # CLIENT_SECRET_BASIC | PRIVATE_KEY_JWT
    secret: SourceSecret = field(repr=False)
    resource: str | None = None
    scope: str | None = None

    def fingerprint(self) -> str:
        parts = [self.issuer, self.client_id, self.auth_method, self.secret.kind, self.secret.value]
        parts += [self.secret.key_id or "", self.resource or "", self.scope or ""]
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


@dataclass
class _Discovered:
    token_endpoint: str
    fetched_at: float


class Discovery:
    """OIDC discovery documents by issuer, cached for an hour."""

    def __init__(self) -> None:
        self._cache: dict[str, _Discovered] = {}
        self._lock = asyncio.Lock()

    def forget(self, issuer: str) -> None:
        self._cache.pop(issuer, None)

    async def token_endpoint(self, issuer: str, request_timeout: float) -> str:
        async with self._lock:
            hit = self._cache.get(issuer)
            if hit is not None and time.monotonic() - hit.fetched_at < DISCOVERY_TTL:
                return hit.token_endpoint
            url = issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                async with httpx.AsyncClient(timeout=request_timeout, follow_redirects=False) as http:
                    response = await http.get(url, headers={"Accept": "application/json"})
            except httpx.HTTPError as exc:
                raise TokenError("sync_discovery_unreachable", transient=True, error=type(exc).__name__) from exc
            if response.status_code >= 500:
                raise TokenError("sync_discovery_status", transient=True, status=response.status_code)
            if response.status_code != 200:
                raise TokenError("sync_discovery_status", status=response.status_code)
            try:
                meta = response.json()
            except ValueError as exc:
                raise TokenError("sync_discovery_invalid") from exc
            if not isinstance(meta, dict) or meta.get("issuer") != issuer:
                raise TokenError("sync_discovery_issuer_mismatch")
            endpoint = meta.get("token_endpoint")
            if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
                raise TokenError("sync_discovery_invalid")
            if not is_secure_endpoint(endpoint):  # the client secret must not travel in clear
                raise TokenError("sync_discovery_insecure")
            self._cache[issuer] = _Discovered(endpoint, time.monotonic())
            return endpoint


def _signing_key(secret: SourceSecret) -> Key:
    alg = secret.alg or "RS256"
    if alg.startswith(("RS", "PS")):
        return RSAKey.import_key(secret.value)
    if alg.startswith("ES"):
        return ECKey.import_key(secret.value)
    return OKPKey.import_key(secret.value)


@dataclass
class _Cached:
    access_token: str
    refresh_at: float  # monotonic


class TokenProvider:
    """Client-credentials tokens of one client for one resource, cached until shortly before expiry."""

    def __init__(self, config: ClientConfig, discovery: Discovery) -> None:
        self.config = config
        self._discovery = discovery
        self._cached: _Cached | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenProvider({self.config.client_id!r} at {self.config.issuer!r})"

    async def token(self, request_timeout: float) -> str:
        async with self._lock:
            cached = self._cached
            if cached is not None and time.monotonic() < cached.refresh_at:
                return cached.access_token
            self._cached = await self._fetch(request_timeout)
            return self._cached.access_token

    def invalidate(self, access_token: str) -> None:
        """The resource server refused ``access_token``: the next call fetches a new one."""
        if self._cached is not None and self._cached.access_token == access_token:
            self._cached = None

    async def _fetch(self, request_timeout: float) -> _Cached:
        cfg = self.config
        endpoint = await self._discovery.token_endpoint(cfg.issuer, request_timeout)
        if cfg.auth_method == "PRIVATE_KEY_JWT":
            if cfg.secret.kind != "private_key":
                raise TokenError("sync_secret_unreadable")
            client_secret: Any = _signing_key(cfg.secret)
            method = "private_key_jwt"
        else:
            if cfg.secret.kind != "client_secret":
                raise TokenError("sync_secret_unreadable")
            client_secret = cfg.secret.value
            method = "client_secret_basic"
        params: dict[str, str] = {}
        if cfg.resource:
            params["resource"] = cfg.resource
        self.fetches += 1
        started = time.monotonic()
        try:
            async with AsyncOAuth2Client(
                client_id=cfg.client_id,
                client_secret=client_secret,
                token_endpoint_auth_method=method,
                scope=cfg.scope,
                token_endpoint=endpoint,
                grant_type="client_credentials",
                timeout=request_timeout,
                follow_redirects=False,
            ) as client:
                if method == "private_key_jwt":
                    headers = {"kid": cfg.secret.key_id} if cfg.secret.key_id else None
                    client.register_client_auth_method(
                        PrivateKeyJWT(endpoint, headers=headers, alg=cfg.secret.alg or "RS256")
                    )
                token = await client.fetch_token(endpoint, grant_type="client_credentials", **params)
        except OAuthError as exc:
            raise TokenError("sync_token_refused", error=str(exc.error)[:60]) from exc
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            raise TokenError("sync_token_status", transient=status >= 500 or status == 429, status=status) from exc
        except httpx.HTTPError as exc:
            raise TokenError("sync_token_unreachable", transient=True, error=type(exc).__name__) from exc
        except ValueError as exc:
            raise TokenError("sync_token_invalid") from exc
        access_token = token.get("access_token")
        token_type = str(token.get("token_type", "Bearer"))
        if not isinstance(access_token, str) or not access_token or token_type.lower() != "bearer":
            raise TokenError("sync_token_invalid")
        try:
            lifetime = float(token.get("expires_in", 300))
        except (TypeError, ValueError):
            lifetime = 300.0
        leeway = min(MAX_LEEWAY, lifetime / 10)
        return _Cached(access_token, started + max(0.0, lifetime - leeway))


class TokenCache:
    """Token providers of every source of the process, by client configuration."""

    def __init__(self) -> None:
        self.discovery = Discovery()
        self._providers: dict[str, TokenProvider] = {}

    def provider_for(self, config: ClientConfig) -> TokenProvider:
        key = config.fingerprint()
        provider = self._providers.get(key)
        if provider is None:
            provider = self._providers[key] = TokenProvider(config, self.discovery)
        return provider


PROCESS_TOKENS = TokenCache()
