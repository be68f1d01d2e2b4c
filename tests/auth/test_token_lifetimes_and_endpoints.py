"""Dev tokens expire (a day by default, at most 30 days); discovered token and JWKS endpoints must be
https except on loopback; dev mode listens on loopback only (issue 10, item 9)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt

from pdo_graph import cli
from pdo_graph.app import create_app
from pdo_graph.auth.oidc import IssuerUnavailable, OidcVerifier
from pdo_graph.auth.principal import AuthError, ClaimNames, Role
from pdo_graph.auth.tokens import (
    DEV_AUDIENCE,
    DEV_ISSUER,
    MAX_DEV_TOKEN_TTL,
    DevVerifier,
    load_or_create_dev_key,
    mint_dev_token,
)
from pdo_graph.integrations.oidc_client import Discovery, TokenError
from pdo_graph.net import is_secure_endpoint


def claims_of(token: str, key: Any) -> dict[str, Any]:
    return dict(jwt.decode(token, key, algorithms=["ES256"]).claims)


def test_a_dev_token_lives_a_day_by_default(settings):
    key = load_or_create_dev_key(settings.data_dir)
    claims = claims_of(mint_dev_token(key, role=Role.GUARDIAN, subject="alice"), key)
    assert claims["exp"] - claims["iat"] == 24 * 3600
    with pytest.raises(ValueError):
        mint_dev_token(key, role=Role.GUARDIAN, subject="alice", ttl_seconds=MAX_DEV_TOKEN_TTL + 1)


async def test_the_verifier_refuses_dev_tokens_that_live_longer_than_30_days(settings):
    key = load_or_create_dev_key(settings.data_dir)
    now = int(time.time())
    claims = {"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "mallory", "iat": now, "nbf": now - 5}
    claims |= {"exp": now + 30 * 365 * 86400, "pdo_role": "OPERATOR", "pdo_municipality": "01"}
    forged = jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=["ES256"])
    verifier = DevVerifier(key)
    with pytest.raises(AuthError, match="30"):
        await verifier.verify(forged)
    minted = mint_dev_token(key, role=Role.OPERATOR, subject="op", municipality="01", ttl_seconds=3600)
    fine = await verifier.verify(minted)
    assert fine.subject == "op"


@pytest.mark.parametrize(
    ("given", "seconds"), [("3600", 3600), ("90s", 90), ("30m", 1800), ("12h", 43200), ("7D", 604800)]
)
def test_ttl_takes_seconds_or_a_duration(given, seconds):
    assert cli.duration(given) == seconds


@pytest.mark.parametrize("given", ["0", "31d", "1w", "abc", "-5", ""])
def test_ttl_refuses_what_is_not_a_duration_up_to_30_days(given):
    with pytest.raises(argparse.ArgumentTypeError, match=r"duration|30 days"):
        cli.duration(given)


def run_cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PDO_DATA_DIR": str(settings.data_dir)}
    command = [sys.executable, "-m", "pdo_graph.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_dev_token_command_uses_the_ttl(settings):
    done = run_cli(settings, "dev-token", "--role", "guardian", "--subject", "alice", "--ttl", "2h")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    claims = claims_of(token, load_or_create_dev_key(settings.data_dir))
    assert claims["exp"] - claims["iat"] == 7200


def test_dev_mode_refuses_a_public_address_in_the_app_factory(settings):
    with pytest.raises(RuntimeError, match="loopback"):
        create_app(replace(settings, host="0.0.0.0"))
    create_app(replace(settings, host="0.0.0.0", dev_force=True))
    create_app(replace(settings, host="::1"))
    create_app(replace(settings, host="0.0.0.0", auth_mode="oidc", oidc_issuer="https://id.example.org"))


def test_serve_keeps_its_message(settings):
    done = run_cli(settings, "serve", "--host", "0.0.0.0")
    assert done.returncode == 2
    assert "PDO_AUTH_MODE=dev may only listen on loopback" in done.stderr
    too_long = run_cli(settings, "dev-token", "--role", "guardian", "--subject", "alice", "--ttl", "31d")
    assert too_long.returncode == 2 and "30 days" in too_long.stderr


def test_secure_endpoints():
    assert is_secure_endpoint("https://id.example.org/token")
    assert is_secure_endpoint("http://127.0.0.1:8080/token")
    assert is_secure_endpoint("http://localhost/jwks")
    assert is_secure_endpoint("http://[::1]:9000/jwks")
    assert not is_secure_endpoint("http://id.example.org/token")
    assert not is_secure_endpoint("http://127.0.0.1.example.org/token")
    assert not is_secure_endpoint("ftp://127.0.0.1/token")
    assert not is_secure_endpoint("https:///nohost")


class _Issuer:
    """A discovery document served over HTTP on loopback; its endpoints are whatever a test sets."""

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(issuer.meta if self.path.endswith("openid-configuration") else {"keys": []})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def issuer() -> Iterator[_Issuer]:
    server = _Issuer()
    yield server
    server.server.shutdown()
    server.server.server_close()


async def test_a_discovered_token_endpoint_on_plain_http_is_refused(issuer):
    issuer.meta = {"issuer": issuer.url, "token_endpoint": "http://idp.example.org/token"}
    with pytest.raises(TokenError) as refused:
        await Discovery().token_endpoint(issuer.url, 5)
    assert refused.value.key == "sync_discovery_insecure" and not refused.value.transient
    issuer.meta = {"issuer": issuer.url, "token_endpoint": f"{issuer.url}/token"}
    assert await Discovery().token_endpoint(issuer.url, 5) == f"{issuer.url}/token"


async def test_a_discovered_jwks_uri_on_plain_http_is_refused(issuer):
    issuer.meta = {"issuer": issuer.url, "jwks_uri": "http://keys.example.org/jwks"}
    verifier = OidcVerifier(issuer=issuer.url, audience=None, algorithms=["RS256"], names=ClaimNames())
    header = {"alg": "RS256", "typ": "at+jwt", "kid": "k1"}
    token = ".".join(
        part.rstrip("=")
        for part in (
            _b64(json.dumps(header)),
            _b64(json.dumps({"sub": "x"})),
            _b64("sig"),
        )
    )
    try:
        with pytest.raises(IssuerUnavailable):
            await verifier.verify(token)
    finally:
        await verifier.aclose()
    with pytest.raises(ValueError, match="https"):
        OidcVerifier(issuer="http://id.example.org", audience=None, algorithms=["RS256"], names=ClaimNames())


def _b64(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode()
