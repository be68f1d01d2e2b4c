"""OidcVerifier against a real OpenID Provider (tests/oidc_fixture.py)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from pdo_graph.auth.oidc import IssuerUnavailable, OidcVerifier
from pdo_graph.auth.principal import AuthError, ClaimNames, Principal, Role
from tests.oidc_fixture import API_RESOURCE, FEED_RESOURCE, PROVIDER_X, OidcProvider

ALGORITHMS = ["RS256", "ES256"]


class Counted:
    """An httpx client that counts requests per URL."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.http = httpx.AsyncClient(timeout=10.0, event_hooks={"request": [self._hook]})

    async def _hook(self, request: httpx.Request) -> None:
        self.urls.append(str(request.url))

    def count(self, url: str) -> int:
        return self.urls.count(url)


@pytest.fixture
async def counted() -> AsyncIterator[Counted]:
    c = Counted()
    yield c
    await c.http.aclose()


@pytest.fixture
def make_verifier(oidc_provider: OidcProvider, counted: Counted) -> Callable[..., OidcVerifier]:
    def make(**overrides: Any) -> OidcVerifier:
        options: dict[str, Any] = {
            "issuer": oidc_provider.issuer,
            "audience": API_RESOURCE,
            "algorithms": ALGORITHMS,
            "names": ClaimNames(),
            "http": counted.http,
        }
        options.update(overrides)
        return OidcVerifier(**options)

    return make


@pytest.fixture
def verifier(make_verifier: Callable[..., OidcVerifier]) -> OidcVerifier:
    return make_verifier()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def unb64json(segment: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return data


async def refused(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(AuthError) as info:
        await verifier.verify(token)
    return info.value.message


# -- real tokens from the provider ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "expected"),
    [
        ("guardian-alice", Principal(role=Role.GUARDIAN, subject="alice")),
        ("operator-01", Principal(role=Role.OPERATOR, subject="operator-01", municipality="01")),
        ("provider-x", Principal(role=Role.PROVIDER, subject="provider-x", provider=PROVIDER_X)),
        ("provider-x-jwt", Principal(role=Role.PROVIDER, subject="provider-x-jwt", provider=PROVIDER_X)),
        ("analyst", Principal(role=Role.ANALYST, subject="analyst")),
        ("short-lived", Principal(role=Role.GUARDIAN, subject="short-lived")),
    ],
)
async def test_real_tokens_give_principals(
    oidc_provider: OidcProvider, verifier: OidcVerifier, client_id: str, expected: Principal
) -> None:
    token = oidc_provider.token(client_id)
    assert await verifier.verify(token) == expected


async def test_token_header_and_key_types(oidc_provider: OidcProvider) -> None:
    rs = unb64json(oidc_provider.token("guardian-alice").split(".")[0])
    es = unb64json(oidc_provider.token("analyst").split(".")[0])
    assert (rs["alg"], rs["typ"]) == ("RS256", "at+jwt")
    assert (es["alg"], es["typ"]) == ("ES256", "at+jwt")


async def test_machine_client_without_role_is_provider(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    claims = unb64json(oidc_provider.token("provider-x").split(".")[1])
    assert "pdo_role" not in claims and claims["sub"] == "provider-x"
    principal = await verifier.verify(oidc_provider.token("provider-x", resource=API_RESOURCE))
    assert principal.role is Role.PROVIDER and principal.provider == PROVIDER_X


async def test_keys_are_fetched_once_for_many_tokens(
    oidc_provider: OidcProvider, verifier: OidcVerifier, counted: Counted
) -> None:
    tokens = [oidc_provider.token(c) for c in ("guardian-alice", "operator-01", "analyst")] * 4
    await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert counted.count(oidc_provider.jwks_uri) == 1
    assert counted.count(f"{oidc_provider.issuer}/.well-known/openid-configuration") == 1


async def test_token_without_role_is_refused(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    assert await refused(verifier, oidc_provider.token("no-role")) == "В токене нет роли"


async def test_wrong_audience(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    token = oidc_provider.token("provider-x-jwt", resource=FEED_RESOURCE)
    assert unb64json(token.split(".")[1])["aud"] == FEED_RESOURCE
    assert "aud" in await refused(verifier, token)


async def test_no_audience_check_when_not_configured(
    oidc_provider: OidcProvider, make_verifier: Callable[..., OidcVerifier]
) -> None:
    verifier = make_verifier(audience=None)
    token = oidc_provider.token("provider-x-jwt", resource=FEED_RESOURCE)
    assert (await verifier.verify(token)).provider == PROVIDER_X


# -- forged and broken tokens --------------------------------------------------------------------


async def test_alg_none(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    kid = oidc_provider.signing_key("RS256").kid
    header = {"alg": "none", "typ": "at+jwt", "kid": kid}
    token = f"{b64json(header)}.{b64json(oidc_provider.claims_for('guardian-alice'))}."
    assert "алгоритм" in await refused(verifier, token)


async def test_hs256_signed_with_the_public_key(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    key = oidc_provider.signing_key("RS256")
    assert isinstance(key, RSAKey)
    secret = key.as_pem(private=False)
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'at+jwt', 'kid': key.kid})}." + b64json(
        oidc_provider.claims_for("operator-01")
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert "алгоритм" in await refused(verifier, f"{signing_input}.{b64(signature)}")


async def test_alg_outside_the_allow_list(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    kid = str(oidc_provider.signing_key("RS256").kid)
    stranger = RSAKey.generate_key(2048, parameters={"kid": kid})  # the provider's key is marked RS256
    token = oidc_provider.forge(oidc_provider.claims_for("guardian-alice"), alg="PS256", key=stranger)
    assert await refused(verifier, token) == "Недопустимый алгоритм подписи токена: PS256"


def test_forbidden_algorithms_cannot_be_configured() -> None:
    for alg in ("none", "HS256"):
        with pytest.raises(ValueError):
            OidcVerifier(issuer="http://x", audience=None, algorithms=["RS256", alg], names=ClaimNames())


async def test_expired(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    now = int(time.time())
    claims = oidc_provider.claims_for("guardian-alice", iat=now - 900, exp=now - 120)  # past the 30 s leeway
    assert await refused(verifier, oidc_provider.forge(claims)) == "Срок действия токена истёк"


async def test_without_exp(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    claims = oidc_provider.claims_for("guardian-alice")
    del claims["exp"]
    assert "exp" in await refused(verifier, oidc_provider.forge(claims))


async def test_not_yet_valid(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    claims = oidc_provider.claims_for("guardian-alice", nbf=int(time.time()) + 300)
    assert "nbf" in await refused(verifier, oidc_provider.forge(claims, alg="ES256"))


async def test_wrong_issuer(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    claims = oidc_provider.claims_for("guardian-alice", iss="http://127.0.0.1:1")
    assert await refused(verifier, oidc_provider.forge(claims)) == "Токен выпущен другим издателем"


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "at+jwt", "application/at+jwt", "dpop+jwt", "JOSE"])
async def test_typ(oidc_provider: OidcProvider, verifier: OidcVerifier, typ: str | None) -> None:
    token = oidc_provider.forge(oidc_provider.claims_for("analyst"), typ=typ)
    if typ in ("JWT", "jwt", "at+jwt", "application/at+jwt"):
        assert (await verifier.verify(token)).role is Role.ANALYST
    else:
        assert "typ" in await refused(verifier, token)


async def test_missing_kid(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    key = oidc_provider.signing_key("RS256")
    header = {"alg": "RS256", "typ": "at+jwt"}
    token = jwt.encode(header, oidc_provider.claims_for("guardian-alice"), key, algorithms=["RS256"])
    assert "kid" not in unb64json(token.split(".")[0])
    assert "kid" in await refused(verifier, token)


async def test_key_of_another_type_under_a_known_kid(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    """An ES256 header naming the RSA key's kid: no such key, so 'unknown key'."""
    rsa_kid = oidc_provider.signing_key("RS256").kid
    ec = oidc_provider.signing_key("ES256")
    token = oidc_provider.forge(oidc_provider.claims_for("analyst"), alg="ES256", key=ec, header={"kid": rsa_kid})
    assert await refused(verifier, token) == "Токен подписан неизвестным ключом (kid)"


async def test_tampered_payload(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    header, payload, signature = oidc_provider.token("provider-x").split(".")
    claims = unb64json(payload)
    claims["pdo_provider"] = "7736050003"
    tampered = f"{header}.{b64json(claims)}.{signature}"
    assert await refused(verifier, tampered) == "Недействительный токен: подпись не проверена"


async def test_signed_by_another_key_with_a_known_kid(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    kid = str(oidc_provider.signing_key("RS256").kid)
    stranger = RSAKey.generate_key(2048, parameters={"kid": kid})
    token = oidc_provider.forge(oidc_provider.claims_for("guardian-alice"), key=stranger)
    assert await refused(verifier, token) == "Недействительный токен: подпись не проверена"


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "a.b.c.d.e", "Привет.мир.!"])
async def test_garbage(verifier: OidcVerifier, token: str) -> None:
    assert "Недействительный токен" in await refused(verifier, token)


# -- keys: unknown kid, rotation, the issuer unreachable ----------------------------------------------


async def test_unknown_kid_refetches_once_for_concurrent_tokens(
    oidc_provider: OidcProvider, verifier: OidcVerifier, counted: Counted
) -> None:
    await verifier.verify(oidc_provider.token("guardian-alice"))  # keys cached
    assert counted.count(oidc_provider.jwks_uri) == 1
    stranger = RSAKey.generate_key(2048, parameters={"kid": "stranger-1"})
    tokens = [oidc_provider.forge(oidc_provider.claims_for("guardian-alice"), key=stranger) for _ in range(10)]
    results = await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, AuthError) for r in results), results
    assert {r.message for r in results if isinstance(r, AuthError)} == {"Токен подписан неизвестным ключом (kid)"}
    assert counted.count(oidc_provider.jwks_uri) == 2
    # Within min_refetch_interval another unknown kid does not reach the issuer.
    await refused(verifier, tokens[0])
    assert counted.count(oidc_provider.jwks_uri) == 2
    # Known keys still work from the cache.
    assert (await verifier.verify(oidc_provider.token("operator-01"))).municipality == "01"
    assert counted.count(oidc_provider.jwks_uri) == 2


async def test_unknown_kid_on_a_cold_cache_fetches_once(
    oidc_provider: OidcProvider, verifier: OidcVerifier, counted: Counted
) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "stranger-2"})
    tokens = [oidc_provider.forge(oidc_provider.claims_for("analyst"), key=stranger) for _ in range(10)]
    results = await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, AuthError) and not isinstance(r, IssuerUnavailable) for r in results), results
    assert counted.count(oidc_provider.jwks_uri) == 1


async def test_refetch_allowed_again_after_the_interval(
    oidc_provider: OidcProvider, make_verifier: Callable[..., OidcVerifier], counted: Counted
) -> None:
    verifier = make_verifier(min_refetch_interval=0.0)
    await verifier.verify(oidc_provider.token("guardian-alice"))
    stranger = RSAKey.generate_key(2048, parameters={"kid": "stranger-3"})
    token = oidc_provider.forge(oidc_provider.claims_for("guardian-alice"), key=stranger)
    for _ in range(3):
        await refused(verifier, token)
    assert counted.count(oidc_provider.jwks_uri) == 4


async def test_key_rotation(
    oidc_provider: OidcProvider, make_verifier: Callable[..., OidcVerifier], counted: Counted
) -> None:
    verifier = make_verifier()
    old_token = oidc_provider.token("provider-x")
    old_kid = unb64json(old_token.split(".")[0])["kid"]
    assert (await verifier.verify(old_token)).provider == PROVIDER_X
    issuer = oidc_provider.issuer

    oidc_provider.rotate_keys()

    assert oidc_provider.issuer == issuer
    new_token = oidc_provider.token("provider-x-jwt")
    new_kid = unb64json(new_token.split(".")[0])["kid"]
    assert new_kid != old_kid
    assert (await verifier.verify(new_token)).provider == PROVIDER_X  # re-fetched the JWKS
    assert (await verifier.verify(oidc_provider.token("analyst"))).role is Role.ANALYST
    assert counted.count(oidc_provider.jwks_uri) == 2
    # The old key is no longer published: its tokens are refused (without another fetch).
    assert await refused(verifier, old_token) == "Токен подписан неизвестным ключом (kid)"
    assert counted.count(oidc_provider.jwks_uri) == 2
    # Still known to the fixture for forging.
    assert oidc_provider.private_jwk(old_kid).kid == old_kid


async def test_rotation_keeping_old_keys(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    old_token = oidc_provider.token("operator-01")
    oidc_provider.rotate_keys(keep_old=True)
    new_token = oidc_provider.token("operator-01")
    assert unb64json(new_token.split(".")[0])["kid"] != unb64json(old_token.split(".")[0])["kid"]
    assert len(oidc_provider.jwks["keys"]) == 4
    for token in (old_token, new_token):
        assert (await verifier.verify(token)).role is Role.OPERATOR


async def test_issuer_unreachable(oidc_provider: OidcProvider, make_verifier: Callable[..., OidcVerifier]) -> None:
    verifier = make_verifier(issuer="http://127.0.0.1:1")
    token = oidc_provider.forge(oidc_provider.claims_for("guardian-alice", iss="http://127.0.0.1:1"))
    with pytest.raises(IssuerUnavailable) as info:
        await verifier.verify(token)
    assert info.value.message == "Не удалось получить ключи издателя"
    assert isinstance(info.value, AuthError)


async def test_discovery_names_another_issuer(
    oidc_provider: OidcProvider, make_verifier: Callable[..., OidcVerifier], counted: Counted
) -> None:
    verifier = make_verifier(issuer=oidc_provider.issuer + "/")
    assert "обнаружения" in await refused(verifier, oidc_provider.token("guardian-alice"))
    assert counted.count(oidc_provider.jwks_uri) == 0


async def test_own_http_client_is_closed(oidc_provider: OidcProvider) -> None:
    verifier = OidcVerifier(
        issuer=oidc_provider.issuer, audience=API_RESOURCE, algorithms=ALGORITHMS, names=ClaimNames()
    )
    try:
        assert (await verifier.verify(oidc_provider.token("analyst"))).role is Role.ANALYST
    finally:
        await verifier.aclose()


async def test_short_lived_client_gets_two_second_tokens(oidc_provider: OidcProvider, verifier: OidcVerifier) -> None:
    response = oidc_provider.token_response("short-lived")
    assert response["expires_in"] == 2
    claims = unb64json(response["access_token"].split(".")[1])
    assert claims["exp"] - claims["iat"] == 2
    assert (await verifier.verify(response["access_token"])).subject == "short-lived"
