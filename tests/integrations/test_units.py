"""Small parts: prices to kopecks, Retry-After, backoff, secrets at rest, keys, URLs, directions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st

from pdo_graph.integrations.feeds import direction_of, kopecks_of
from pdo_graph.integrations.fetch import RetryPolicy, retry_after_seconds
from pdo_graph.integrations.secrets import (
    BadPrivateKey,
    SecretBox,
    SecretUnreadable,
    SourceSecret,
    normalize_private_key,
)
from pdo_graph.integrations.source_rules import same_origin, url_problem


@pytest.mark.parametrize(
    ("price", "kopecks"),
    [
        (4500.5, 450_050),
        (0, 0),
        (19.99, 1999),
        (0.07, 7),
        (1234567.89, 123_456_789),
        ("1999.90", 199_990),
        (3000, 300_000),
    ],
)
def test_prices_convert_exactly(price, kopecks):
    assert kopecks_of(price) == kopecks


@pytest.mark.parametrize("price", [0.1 + 0.2, 10.005, -1, "abc", True, None, float("nan"), float("inf"), [1]])
def test_inexact_or_bad_prices_are_refused(price):
    assert kopecks_of(price) is None


@given(st.integers(min_value=0, max_value=10**11))
def test_every_kopeck_amount_survives_a_json_float(kopecks):
    assert kopecks_of(float(f"{kopecks // 100}.{kopecks % 100:02d}")) == kopecks


def test_retry_after():
    assert retry_after_seconds("7") == 7.0
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now.timestamp()) == 30.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now.timestamp()) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_backoff_grows_with_jitter_and_is_capped():
    policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0)
    assert [policy.backoff(n, lambda: 0.0) for n in (1, 2, 3, 4, 5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert [policy.backoff(n, lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_secrets_are_sealed_and_need_the_same_key():
    box = SecretBox("key-one")
    sealed = box.seal(SourceSecret("client_secret", "s3cr3t-value"))
    assert "s3cr3t" not in sealed and sealed.startswith("v1.")
    assert box.open(sealed).value == "s3cr3t-value"
    assert "s3cr3t" not in repr(box.open(sealed))
    with pytest.raises(SecretUnreadable):
        SecretBox("key-two").open(sealed)
    with pytest.raises(SecretUnreadable):
        box.open(sealed[:-4] + "AAAA")


def _pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def test_private_keys():
    assert normalize_private_key(_pem(ec.generate_private_key(ec.SECP256R1())))[1] == "ES256"
    pem, alg = normalize_private_key(_pem(rsa.generate_private_key(65537, 2048)))
    assert alg == "RS256" and pem.startswith("-----BEGIN PRIVATE KEY-----")
    with pytest.raises(BadPrivateKey) as weak:
        normalize_private_key(_pem(rsa.generate_private_key(65537, 1024)))
    assert weak.value.reason == "source_key_weak"
    encrypted = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(BadPrivateKey) as locked:
        normalize_private_key(encrypted.decode())
    assert locked.value.reason == "source_key_encrypted"
    with pytest.raises(BadPrivateKey):
        normalize_private_key("not a key")


def test_urls():
    ok = ["https://crm.example.org/feed?x=1", "http://127.0.0.1:8080/feed", "http://localhost/feed", "http://[::1]/f"]
    assert [url_problem(u, ["f"]) for u in ok] == [None] * 4
    bad = {
        "http://crm.example.org/feed": "source_url_https",
        "https://user:pw@crm.example.org/": "source_url_credentials",
        "ftp://crm.example.org/": "source_url_invalid",
        "https://crm.example.org/feed#top": "source_url_invalid",
        "https:///nohost": "source_url_invalid",
        "https://crm.example.org:99999/": "source_url_invalid",
        "https://crm.example.org/a b": "source_url_invalid",
    }
    for url, key in bad.items():
        problem = url_problem(url, ["f"])
        assert problem is not None and problem.key == key, url
    assert same_origin("https://a.org/feed", "https://a.org/feed?after=1")
    assert not same_origin("https://a.org/feed", "https://a.org:8443/feed")
    assert not same_origin("https://a.org/feed", "http://a.org/feed")


def test_directions_by_russian_name():
    assert direction_of("Физкультурно-спортивная") == "PHYSICAL_SPORTS"
    assert direction_of("  социально-педагогическая ") == "SOCIAL_HUMANITARIAN"
    assert direction_of("arts") == "ARTS" and direction_of("кулинария") is None
