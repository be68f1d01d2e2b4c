"""PDO_AUTH_MODE=oidc through the HTTP endpoint, with tokens of a real OpenID Provider."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from joserfc.jwk import RSAKey

from pdo_graph.app import create_app
from pdo_graph.db.engine import Database
from tests.oidc_fixture import oidc_mode

VIEWER = "{ viewer { role subject municipality } }"


@pytest.fixture
async def oidc_client(oidc_provider, engine, settings, database_url, db):
    oidc_settings = oidc_mode(settings, oidc_provider.issuer)
    app = create_app(oidc_settings, database=Database(url=database_url, engine=engine))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield client


async def post(client: httpx.AsyncClient, token: str | None, query: str = VIEWER) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    return await client.post("/graphql", json={"query": query}, headers=headers)


async def test_real_tokens_become_principals(oidc_client, oidc_provider):
    r = await post(oidc_client, oidc_provider.token("guardian-alice"))
    assert r.status_code == 200
    assert r.json()["data"]["viewer"] == {"role": "GUARDIAN", "subject": "alice", "municipality": None}
    r = await post(oidc_client, oidc_provider.token("operator-01"))
    assert r.json()["data"]["viewer"]["role"] == "OPERATOR"
    assert r.json()["data"]["viewer"]["municipality"] == "01"
    r = await post(oidc_client, oidc_provider.token("provider-x"))
    assert r.json()["data"]["viewer"]["role"] == "PROVIDER"
    anonymous = await post(oidc_client, None)
    assert anonymous.json()["data"]["viewer"]["role"] is None


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _hs256(claims: dict, secret: bytes, kid: str) -> str:
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'at+jwt', 'kid': kid})}.{_b64(claims)}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(sig).decode().rstrip('=')}"


async def test_bad_tokens_get_401_with_a_message(oidc_client, oidc_provider):
    now = int(time.time())
    claims = oidc_provider.claims_for("guardian-alice")
    public_pem = oidc_provider.signing_key("RS256").as_pem(private=False)
    cases = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{_b64(claims)}.",
        "HS256 with the public key": _hs256(claims, public_pem, oidc_provider.signing_key().kid),
        "expired": oidc_provider.forge({**claims, "exp": now - 3600, "iat": now - 7200}),
        "not yet valid": oidc_provider.forge({**claims, "nbf": now + 3600}),
        "wrong issuer": oidc_provider.forge({**claims, "iss": "https://evil.example"}),
        "wrong audience": oidc_provider.forge({**claims, "aud": "https://other.example/api"}),
        "unknown kid": oidc_provider.forge(
            claims, key=RSAKey.generate_key(2048, parameters={"kid": "stranger"}, private=True)
        ),
        "garbage": "not-a-jwt",
    }
    good = oidc_provider.token("guardian-alice")
    head, payload, sig = good.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered["sub"] = "mallory"
    cases["tampered payload"] = f"{head}.{_b64(tampered)}.{sig}"
    for name, bad in cases.items():
        r = await post(oidc_client, bad)
        assert r.status_code == 401, name
        assert r.headers["www-authenticate"].startswith("Bearer"), name
        [error] = r.json()["errors"]
        assert error["message"] and "Traceback" not in error["message"], name
        assert error["extensions"] == {"code": "UNAUTHENTICATED", "requestId": r.headers["x-request-id"]}, name
        english = await oidc_client.post(
            "/graphql", json={"query": VIEWER}, headers={"authorization": f"Bearer {bad}", "accept-language": "en"}
        )
        assert english.status_code == 401 and english.json()["errors"][0]["message"].isascii(), name
    r = await oidc_client.post("/graphql", json={"query": VIEWER}, headers={"authorization": "Basic abc"})
    assert r.status_code == 401
