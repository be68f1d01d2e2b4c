"""The pieces of read-your-writes that need no database: WAL positions as clients carry them, which
queries may read the replica, and the bounded memory of callers' writes."""

from __future__ import annotations

import pytest
from graphql import OperationDefinitionNode, parse

from pdo_graph.db import replica as replica_module
from pdo_graph.db.replica import Replica, format_lsn, parse_lsn
from pdo_graph.transport.execution import may_read_lagging


@pytest.mark.parametrize(
    ("text", "position"),
    [("0/0", 0), ("0/16B3748", 0x16B3748), ("16/B374D848", (0x16 << 32) | 0xB374D848), (" 1/a ", (1 << 32) | 10),
     ("FFFFFFFF/FFFFFFFF", 2**64 - 1)],
)  # fmt: skip
def test_wal_positions_read_as_postgresql_prints_them(text: str, position: int):
    assert parse_lsn(text) == position
    assert parse_lsn(format_lsn(position)) == position


@pytest.mark.parametrize("text", [None, "", "soon", "1/", "/1", "1/2/3", "g/1", "123456789/0", "1/-2", "1 /2"])
def test_anything_else_is_no_position(text: str | None):
    assert parse_lsn(text) is None


def operation(document: str) -> tuple[object, OperationDefinitionNode]:
    parsed = parse(document)
    [op] = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    return parsed, op


@pytest.mark.parametrize(
    ("document", "tolerant"),
    [
        ("{ viewer { role } }", True),
        ("query D { viewer { role } programs(first: 1) { totalCount } __typename }", True),
        ("{ ... on Query { viewer { role } } }", True),
        ('query { ...F } fragment F on Query { settlementStatements(month: "2030-09-01") { id } }', True),
        ("query { ...F } fragment F on Query { ...F viewer { role } }", True),  # (invalid, but terminates)
        ('{ viewer { role } quote(certificateId: "a", groupId: "b") { months } }', False),
        ("{ ... on Query { auditLog(first: 1) { totalCount } } }", False),
        ("query { ...F } fragment F on Query { certificateApplications(first: 1) { totalCount } }", False),
        ("query { ...Missing }", False),
        ("mutation { viewer { role } }", False),
        ("subscription { viewer { role } }", False),
    ],
)
def test_which_operations_may_read_the_replica(document: str, tolerant: bool):
    parsed, op = operation(document)
    assert may_read_lagging(parsed, op) is tolerant  # type: ignore[arg-type]


def test_the_memory_of_writes_is_bounded_and_keeps_the_latest(monkeypatch):
    monkeypatch.setattr(replica_module, "REMEMBERED_CALLERS", 2)
    memory = Replica(None, None, 5.0)  # type: ignore[arg-type]
    memory.remember("a", 10)
    memory.remember("a", 5)  # an older position never replaces a newer one
    assert memory.written_by("a") == 10
    memory.remember("b", 20)
    memory.remember("c", 30)  # the least recently written ("a") goes
    assert (memory.written_by("a"), memory.written_by("b"), memory.written_by("c")) == (None, 20, 30)
