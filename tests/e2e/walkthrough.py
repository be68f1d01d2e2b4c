"""What the walk-through tests over real HTTP (test_enrollment_walkthrough.py,
test_family_walkthrough.py) share: a GraphQL call with a role's token, the three roles' dev tokens,
a funding period opened in municipality 01, a certificate applied for and issued, a provider
registered by the operator. Each test keeps its own order of these steps (the enrollment test
opens the period after the certificate is issued, to see it credited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import httpx

from tests.e2e.conftest import LiveServer
from tests.helpers import APPLY, ISSUE, OPEN_PERIOD, years_ago

MUNICIPALITY = "01"
NOMINAL = 1_000_000  # kopecks, for every age of the period


def call(server: LiveServer, query: str, variables: dict, token: str) -> dict:
    """The ``data`` of a GraphQL request with ``token``; any ``errors`` fail the test."""
    r = httpx.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body.get("errors"), body
    data: dict = body["data"]
    return data


@dataclass(frozen=True)
class Roles:
    guardian: str
    operator: str
    provider: str


def dev_tokens(server: LiveServer, *, guardian: str, operator: str, provider: str, inn: str) -> Roles:
    """Dev tokens for the given subjects: a guardian, an operator of the municipality, the staff of
    the provider with ``inn``."""
    return Roles(
        guardian=server.cli("dev-token", "--role", "GUARDIAN", "--subject", guardian),
        operator=server.cli("dev-token", "--role", "OPERATOR", "--subject", operator, "--municipality", MUNICIPALITY),
        provider=server.cli("dev-token", "--role", "PROVIDER", "--subject", provider, "--provider", inn),
    )


def open_period(server: LiveServer, operator: str, today: date) -> None:
    """A period from five days ago for 300 days ahead, ``NOMINAL`` for ages 5 to 17."""
    call(
        server,
        OPEN_PERIOD,
        {
            "input": {
                "municipality": MUNICIPALITY,
                "startsOn": (today - timedelta(days=5)).isoformat(),
                "endsOn": (today + timedelta(days=300)).isoformat(),
                "nominals": [{"minAge": 5, "maxAge": 17, "kopecks": NOMINAL}],
            }
        },
        operator,
    )


def issue_certificate(server: LiveServer, roles: Roles, full_name: str, age: int) -> dict:
    """The guardian applies for a child of ``age`` years, the operator issues: the certificate
    (``id``, ``number``, ...)."""
    applied = call(
        server,
        APPLY,
        {"input": {"fullName": full_name, "birthDate": years_ago(age).isoformat(), "municipality": MUNICIPALITY}},
        roles.guardian,
    )["certificateApply"]
    certificate: dict = call(server, ISSUE, {"id": applied["application"]["id"]}, roles.operator)["certificateIssue"][
        "certificate"
    ]
    return certificate


REGISTER = """mutation($inn: String!, $name: String!, $address: String!) { providerRegister(input: {name: $name,
    inn: $inn, municipality: "01", address: $address}) { userErrors { code } } }"""


def register_provider(server: LiveServer, operator: str, inn: str, name: str, address: str) -> None:
    call(server, REGISTER, {"inn": inn, "name": name, "address": address}, operator)
