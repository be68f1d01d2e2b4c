"""schemathesis fuzzes every query and mutation of the running server with a token of each role.

No 5xx, no unmasked error, no response outside the GraphQL response shape. Every String and ID is
drawn from hostile text too (control characters, NUL inside, over-long, unpaired surrogates,
look-alike letters, invisible characters, digits of other scripts), dates reach the ends of the
calendar and SafeInt its bounds and beyond. The number of examples is bounded so CI stays fast; the
counts are printed at the end.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

HOSTILE_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x9F), min_size=1, max_size=20),
    st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=10), st.text(max_size=10)),
    st.integers(min_value=20_000, max_value=20_010).map(lambda n: "x" * n),
    st.sampled_from(
        [
            "\ud800",  # an unpaired surrogate
            "¹¹²²³³⁴⁴⁵⁹⁵",  # a СНИЛС in superscript digits
            "１１２－２３３－４４５ ９５",  # fullwidth
            "١١٢٢٣٣٤٤٥٩٥",  # Arabic-Indic
            "Петрoв Ивaн",  # Latin look-alikes
            "Пет\u200bров\u00ad Иван\ufeff",  # zero-width space, soft hyphen, BOM
            "Петров\r\nИван\t",
        ]
    ),
)
schemathesis.graphql.scalar("String", HOSTILE_TEXT.map(nodes.String))
schemathesis.graphql.scalar("ID", HOSTILE_TEXT.map(nodes.String))
schemathesis.graphql.scalar(
    "SafeInt",
    st.one_of(
        st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1),
        st.sampled_from([2**31, 2**53, -(2**53), 2**63]),
    ).map(nodes.Int),
)
schemathesis.graphql.scalar(
    "Date",
    st.one_of(
        st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)),
        st.sampled_from([date(1, 1, 1), date(1999, 12, 31), date(2101, 1, 1), date(9999, 12, 1), date(9999, 12, 31)]),
    ).map(lambda d: nodes.String(d.isoformat())),
)
schemathesis.graphql.scalar(
    "DateTime",
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)).map(
        lambda d: nodes.String(d.replace(tzinfo=UTC).isoformat())
    ),
)

pytestmark = pytest.mark.e2e  # a real server process

LEAKS = ("Traceback", "sqlalchemy", "asyncpg", 'File "', "Error:", "psycopg", "SELECT ", "INSERT ")
ROLES = {
    "ANONYMOUS": (),
    "GUARDIAN": ("--role", "GUARDIAN", "--subject", "fuzz-guardian"),
    "PROVIDER": ("--role", "PROVIDER", "--subject", "fuzz-provider", "--provider", "7707083893"),
    "OPERATOR": ("--role", "OPERATOR", "--subject", "fuzz-operator", "--municipality", "01"),
    "ANALYST": ("--role", "ANALYST", "--subject", "fuzz-analyst"),
}
STATS: Counter[str] = Counter()
EXAMPLES = 5


@pytest.fixture(scope="session")
def fuzz_tokens(live_server) -> dict[str, str | None]:
    tokens: dict[str, str | None] = {}
    for role, args in ROLES.items():
        tokens[role] = live_server.cli("dev-token", *args) if args else None
    return tokens


def fuzz_operation(operation, url: str, tokens: dict[str, str | None]):
    """A hypothesis test of one operation: each generated case is sent with every role's token."""
    label = operation.label

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
    )
    def fuzz(case) -> None:
        STATS["cases"] += 1
        for role, token in tokens.items():
            headers = {"authorization": f"Bearer {token}"} if token else {}
            response = case.call(base_url=url, headers=headers)
            STATS["requests"] += 1
            assert response.status_code < 500, (label, role, response.status_code, response.text[:500])
            body = response.json()
            assert isinstance(body, dict) and set(body) <= {"data", "errors", "extensions"}, body
            for error in body.get("errors") or []:
                STATS["errors"] += 1
                assert isinstance(error.get("message"), str)
                assert not any(leak in error["message"] for leak in LEAKS), (label, role, error)

    return fuzz


def test_fuzz_every_operation_with_every_role(live_server, fuzz_tokens):
    url = f"{live_server.url}/graphql"
    schema = schemathesis.graphql.from_url(url)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        fuzz_operation(operation, url, fuzz_tokens)()
        STATS["operations"] += 1
    print(
        f"\nfuzzing: {STATS['operations']} operations, {STATS['cases']} generated cases, "
        f"{STATS['requests']} requests, {STATS['errors']} GraphQL errors (none unmasked), 0 server errors"
    )
    assert live_server.cli("ledger", "check") == "ledger invariants hold"
