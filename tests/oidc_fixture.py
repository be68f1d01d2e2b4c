"""pytest plugin: a real OpenID Provider for the whole test session.

``oidc-provider`` (npm, OpenID-certified, see tests/oidc/server.mjs) runs under Node on a loopback
port. Tests get real access tokens from it with the client-credentials grant: every predefined
client carries static claims (``pdo_role``, ``pdo_provider``, ``pdo_municipality``) that the
provider copies into its JWT access tokens, so a client stands for a user or a machine:

==================  =====================================================  ====================
client              claims in the token                                    notes
==================  =====================================================  ====================
guardian-alice      sub=alice, pdo_role=GUARDIAN
operator-01         pdo_role=OPERATOR, pdo_municipality=01
provider-x          pdo_provider=7707083893 (no role: a machine client)    client_secret_basic
provider-x-jwt      pdo_provider=7707083893                                private_key_jwt
analyst             pdo_role=ANALYST                                       ES256-signed tokens
short-lived         sub=short-lived, pdo_role=GUARDIAN                     tokens live 2 s
no-role             nothing                                                refused by the API
==================  =====================================================  ====================

Tokens are for ``API_RESOURCE`` (their ``aud``) unless another resource is asked for
(``FEED_RESOURCE`` is also known to the provider). ``sub`` is the client_id unless noted.

Key rotation restarts the Node process with a new key set on the same port (same issuer):
oidc-provider cannot change its keys while running.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import secrets
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
API_RESOURCE = "https://pdo-graph.test/graphql"


def oidc_mode(settings: Any, issuer: str) -> Any:
    """The settings of a server that accepts ``issuer``'s tokens for API_RESOURCE (and, as every
    server outside dev mode must, has its personal-data keys)."""
    from dataclasses import replace

    from pdo_graph.crypto import new_key_spec

    return replace(
        settings,
        auth_mode="oidc",
        oidc_issuer=issuer,
        oidc_audience=API_RESOURCE,
        personal_data_keys=new_key_spec("t1"),
        url_signing_key=secrets.token_urlsafe(32),
    )


FEED_RESOURCE = "https://provider-x.test/feed"
PROVIDER_X = "7707083893"
START_TIMEOUT = 30.0
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class OidcClient:
    """A client registered with the test provider."""

    client_id: str
    claims: Mapping[str, str]
    sub: str | None = None
    auth_method: str = "client_secret_basic"  # or "private_key_jwt"
    ttl: int | None = None  # access token lifetime, seconds
    alg: str | None = None  # access token signing alg (default RS256)
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    key: Key | None = field(default=None, repr=False)  # private key for private_key_jwt

    def registration(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "client_id": self.client_id,
            "token_endpoint_auth_method": self.auth_method,
            "claims": dict(self.claims),
            "default_resource": API_RESOURCE,
        }
        if self.auth_method == "private_key_jwt":
            assert self.key is not None
            entry["jwks"] = {"keys": [self.key.as_dict(private=False)]}
        else:
            entry["client_secret"] = self.secret
        for name, value in (("sub", self.sub), ("access_token_ttl", self.ttl), ("access_token_alg", self.alg)):
            if value is not None:
                entry[name] = value
        return entry


def default_clients() -> dict[str, OidcClient]:
    client_key = ECKey.generate_key("P-256", parameters={"kid": "provider-x-jwt-1", "alg": "ES256"})
    clients = [
        OidcClient("guardian-alice", {"pdo_role": "GUARDIAN"}, sub="alice"),
        OidcClient("operator-01", {"pdo_role": "OPERATOR", "pdo_municipality": "01"}),
        OidcClient("provider-x", {"pdo_provider": PROVIDER_X}),
        OidcClient("provider-x-jwt", {"pdo_provider": PROVIDER_X}, auth_method="private_key_jwt", key=client_key),
        OidcClient("analyst", {"pdo_role": "ANALYST"}, alg="ES256"),
        OidcClient("short-lived", {"pdo_role": "GUARDIAN"}, sub="short-lived", ttl=2),
        OidcClient("no-role", {}),
    ]
    return {c.client_id: c for c in clients}


class OidcTokenError(RuntimeError):
    """The provider refused a token request."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"token request refused ({status}): {body}")
        self.status = status
        self.body = body


class OidcProvider:
    """A running oidc-provider; see the module docstring."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.clients = default_clients()
        self.api_resource = API_RESOURCE
        self.feed_resource = FEED_RESOURCE
        self.port = 0
        self.issuer = ""
        self.token_endpoint = ""
        self.jwks_uri = ""
        self._all_keys: dict[str, Key] = {}  # every signing key ever used, by kid
        self._generation = itertools.count(1)
        self._proc: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._signing = self._new_keys()  # the current key set, first of a kind signs

    # -- tokens ------------------------------------------------------------------------------

    def token(self, client_id: str, resource: str | None = None, scope: str | None = None) -> str:
        """A real access token from the client-credentials grant."""
        return str(self.token_response(client_id, resource=resource, scope=scope)["access_token"])

    def token_response(self, client_id: str, resource: str | None = None, scope: str | None = None) -> dict[str, Any]:
        client = self.clients[client_id]
        data = {"grant_type": "client_credentials"}
        if resource is not None:
            data["resource"] = resource
        if scope is not None:
            data["scope"] = scope
        auth: httpx.Auth = httpx.Auth()  # no Authorization header
        if client.auth_method == "private_key_jwt":
            data["client_id"] = client_id
            data["client_assertion_type"] = ASSERTION_TYPE
            data["client_assertion"] = self.client_assertion(client_id)
        else:
            auth = httpx.BasicAuth(client_id, client.secret)
        with httpx.Client(timeout=10.0) as http:
            response = http.post(self.token_endpoint, data=data, auth=auth)
        if response.status_code != 200:
            raise OidcTokenError(response.status_code, response.text)
        body: dict[str, Any] = response.json()
        return body

    def client_assertion(self, client_id: str) -> str:
        """A fresh private_key_jwt assertion (new jti every time: the provider detects replays)."""
        key = self.clients[client_id].key
        assert key is not None, f"{client_id} does not use private_key_jwt"
        now = int(time.time())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": self.token_endpoint,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 60,
        }
        return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])

    # -- forging tokens with the provider's own keys ---------------------------------------------

    @property
    def jwks(self) -> dict[str, Any]:
        """The public key set the provider currently publishes."""
        return {"keys": [key.as_dict(private=False) for key in self._signing]}

    def private_jwk(self, kid: str) -> Key:
        """The provider's private signing key ``kid`` (current or rotated out)."""
        return self._all_keys[kid]

    def signing_key(self, alg: str = "RS256") -> Key:
        """The key the provider currently signs ``alg`` tokens with."""
        kty = "EC" if alg.startswith("ES") else "RSA"
        return next(key for key in self._signing if key.key_type == kty)

    def claims_for(self, client_id: str, **overrides: Any) -> dict[str, Any]:
        """Claims like those of a real access token of ``client_id``, with overrides."""
        client = self.clients[client_id]
        now = int(time.time())
        claims: dict[str, Any] = {
            **client.claims,
            "jti": uuid.uuid4().hex,
            "sub": client.sub or client_id,
            "iat": now,
            "exp": now + 600,
            "client_id": client_id,
            "iss": self.issuer,
            "aud": API_RESOURCE,
        }
        claims.update(overrides)
        return claims

    def forge(
        self,
        claims: Mapping[str, Any],
        *,
        alg: str = "RS256",
        key: Key | None = None,
        typ: str | None = "at+jwt",
        header: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign ``claims`` as the provider would (or with ``key``), for tokens it would not issue."""
        key = key or self.signing_key(alg)
        protected: dict[str, Any] = {"alg": alg, "kid": key.kid}
        if typ is not None:
            protected["typ"] = typ
        protected.update(header or {})
        return jwt.encode(protected, dict(claims), key, algorithms=[alg], default_type=None)

    # -- process ---------------------------------------------------------------------------------

    def rotate_keys(self, keep_old: bool = False) -> None:
        """Restart on the same port and issuer with new signing keys.

        With ``keep_old`` the previous keys stay published (tokens signed with them still verify);
        the new ones sign.
        """
        old = self._signing
        self._signing = self._new_keys() + (old if keep_old else [])
        self.stop()
        self.start()

    def start(self) -> None:
        n = next(self._generation)
        config = self.workdir / f"config-{n}.json"
        config.write_text(json.dumps(self._config()))
        attempts = 10 if self.port else 1
        for attempt in range(attempts):
            try:
                self._spawn(config, n)
                break
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.3)  # the port of the previous run may not be free yet
        meta = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10.0).json()
        assert meta["issuer"] == self.issuer, meta
        self.token_endpoint = meta["token_endpoint"]
        self.jwks_uri = meta["jwks_uri"]

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _spawn(self, config: Path, n: int) -> None:
        log_path = self.workdir / f"server-{n}.log"
        self._log = log_path.open("a")
        env = {**os.environ, "OIDC_EXIT_ON_STDIN_EOF": "1"}
        proc = subprocess.Popen(
            ["node", "server.mjs", str(config), str(self.port)],
            cwd=OIDC_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        issuer: str | None = None
        while issuer is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                proc.kill()
                proc.wait()
                self._log.close()
                self._log = None
                raise RuntimeError(f"oidc-provider did not start: {log_path.read_text()[-2000:]}")
            if line.startswith("READY "):
                issuer = line.split(maxsplit=1)[1].strip()
        self._proc = proc
        self.issuer = issuer
        self.port = int(self.issuer.rsplit(":", 1)[1])

    def _config(self) -> dict[str, Any]:
        return {
            "jwks": {"keys": [key.as_dict(private=True) for key in self._signing]},
            "resources": [
                {"url": API_RESOURCE, "scope": "api", "alg": "RS256", "ttl": 600},
                {"url": FEED_RESOURCE, "scope": "feed:read", "alg": "RS256", "ttl": 600},
            ],
            "clients": [client.registration() for client in self.clients.values()],
        }

    def _new_keys(self) -> list[Key]:
        tag = secrets.token_hex(4)
        keys: list[Key] = [
            RSAKey.generate_key(2048, parameters={"kid": f"rsa-{tag}", "use": "sig", "alg": "RS256"}),
            ECKey.generate_key("P-256", parameters={"kid": f"ec-{tag}", "use": "sig", "alg": "ES256"}),
        ]
        for key in keys:
            assert key.kid is not None
            self._all_keys[key.kid] = key
        return keys


def _pump(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
    """Read the server's stdout to the end (so it never blocks on a full pipe)."""
    if stream is not None:
        for line in stream:
            lines.put(line)
    lines.put(None)


def ensure_node_modules() -> None:
    if (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("Node.js and npm are needed for the OIDC tests (tests/oidc)")
    command = "ci" if (OIDC_DIR / "package-lock.json").exists() else "install"
    done = subprocess.run([npm, command, "--no-audit", "--no-fund"], cwd=OIDC_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"npm {command} in tests/oidc failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """A running OpenID Provider with the predefined clients (see the module docstring)."""
    ensure_node_modules()
    provider = OidcProvider(tmp_path_factory.mktemp("oidc"))
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
