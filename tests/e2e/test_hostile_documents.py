"""The real server keeps answering /healthz while hostile documents arrive from several clients at once.

Timings are measured in bench/limits.py; here only behaviour: every hostile document is refused with
a 4xx and a code, and /healthz answers all along.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import httpx

from tests.hardening.test_limits import escaped_quotes, fragment_chain

BODY_LIMIT = 1536 * 1024
HOSTILE = {
    "fragment chain 22": {"query": fragment_chain(22)},
    "escaped quotes 28 KB": {"query": escaped_quotes(28 * 1024)},
    "escaped quotes 64 KB": {"query": escaped_quotes(64 * 1024)},
    "escaped quotes 1.5 MB": {"query": escaped_quotes(BODY_LIMIT // 2 - 64)},
    "two operations, no name": {"query": "query A { municipalities { code } } query B { __typename }"},
    "unknown operationName": {"query": "query A { __typename }", "operationName": "B"},
    "fragments only": {"query": "fragment F on Query { __typename }"},
    "450 same-name fields": {"query": "{ " + "municipalities { code } " * 450 + "}"},
}


def test_healthz_answers_while_hostile_documents_arrive(live_server, db):
    stop = threading.Event()
    outcomes: Counter[tuple[str, int, str]] = Counter()
    failures: list[str] = []
    serial = itertools.count()
    lock = threading.Lock()

    def attacker(names: list[str]) -> None:
        headers = {"accept": "application/graphql-response+json"}  # syntax errors are 400 too then
        with httpx.Client(base_url=live_server.url, timeout=60, headers=headers) as client:
            for name in itertools.cycle(names):
                if stop.is_set():
                    return
                payload = dict(HOSTILE[name])
                payload["query"] = f"{payload['query']}\n#{next(serial)}"  # no cache helps
                try:
                    r = client.post("/graphql", json=payload)
                    code = r.json()["errors"][0]["extensions"]["code"]
                except Exception as exc:  # recorded and asserted below
                    with lock:
                        failures.append(f"{name}: {exc!r}")
                    return
                with lock:
                    outcomes[(name, r.status_code, code)] += 1

    names = list(HOSTILE)
    attackers = [threading.Thread(target=attacker, args=(names[i::4],)) for i in range(4)]
    for t in attackers:
        t.start()
    answers = []

    def every_document_answered_twice() -> bool:
        with lock:
            seen = Counter(name for (name, _, _), n in outcomes.items() for _ in range(n))
        return all(seen[name] >= 2 for name in HOSTILE) or bool(failures)

    try:
        with httpx.Client(base_url=live_server.url, timeout=10) as client:
            while len(answers) < 40 or (not every_document_answered_twice() and len(answers) < 3000):
                r = client.get("/healthz")
                answers.append((r.status_code, r.text))
                time.sleep(0.02)
    finally:
        stop.set()
        for t in attackers:
            t.join(60)
    assert failures == []
    assert set(answers) == {(200, "ok")}
    assert {name for name, _, _ in outcomes} == set(HOSTILE)
    assert all(status == 400 for _, status, _ in outcomes), outcomes
    codes = {name: code for name, _, code in outcomes}
    assert codes == {
        "fragment chain 22": "QUERY_TOO_COMPLEX",
        "escaped quotes 28 KB": "GRAPHQL_PARSE_FAILED",
        "escaped quotes 64 KB": "GRAPHQL_PARSE_FAILED",
        "escaped quotes 1.5 MB": "QUERY_TOO_LARGE",
        "two operations, no name": "OPERATION_NAME_REQUIRED",
        "unknown operationName": "OPERATION_NOT_FOUND",
        "fragments only": "NO_OPERATION",
        "450 same-name fields": "QUERY_TOO_COMPLEX",
    }
