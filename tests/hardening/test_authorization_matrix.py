"""The authorization matrix: every query field, every Node type and every mutation, tried by each
role against tenant A's objects (guardian A, provider X, municipality 01), must be denied.

The schema is enumerated by introspection, so a field or type added later without a rule here
fails the test until someone decides who may use it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import text

from pdo_graph.domain.identifiers import inn_with_checksum
from pdo_graph.domain.money import add_months
from tests.helpers import APPLY, new_certificate, open_period, years_ago

INN_X, INN_Y = inn_with_checksum("500100732"), inn_with_checksum("770100541")
DENIED = {"FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED"}
PUBLIC_NODES = {"FundingPeriod", "Provider", "Program", "Group", "Review"}
# Who of tenant A may see each private node type (the positive control).
OWNER_OF_NODE = {
    "Child": "guardian A",
    "Certificate": "guardian A",
    "CertificateApplication": "guardian A",
    "Transaction": "guardian A",
    "Enrollment": "guardian A",
    "CatalogSource": "operator 01",
    "CatalogSyncRun": "operator 01",
    "AuditEntry": "operator 01",
    "Notification": "guardian A",
    "SettlementStatement": "operator 01",
}


async def ok(gql: Any, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    body = await gql(query, variables, token=token)
    assert not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


async def build_world(gql: Any, token: Any, db: Any) -> dict[str, Any]:
    today = date.today()
    w: dict[str, Any] = {"today": today, "month": today.replace(day=1).isoformat()}
    t = {
        "guardian A": token("GUARDIAN", "ga"),
        "provider X": token("PROVIDER", "staff-x", provider=INN_X),
        "operator 01": token("OPERATOR", "op01", municipality="01"),
        "guardian B": token("GUARDIAN", "gb"),
        "provider Y": token("PROVIDER", "staff-y", provider=INN_Y),
        "operator 02": token("OPERATOR", "op02", municipality="02"),
        "analyst": token("ANALYST", "an"),
        "anonymous": None,
    }
    w["tokens"] = t
    for muni in ("01", "02"):
        period = await open_period(
            gql, token, muni, today - timedelta(days=10), today + timedelta(days=300), [(5, 17, 2_000_000)]
        )
        w[f"period {muni}"] = period["period"]["id"]
    cert_a = await new_certificate(gql, token, "ga", "Андреев Антон Антонович", 10, "01")
    await new_certificate(gql, token, "gb", "Борисов Борис Борисович", 11, "02")
    w["certificate A"], w["number A"] = cert_a["id"], cert_a["number"]
    pending = await gql(
        APPLY,
        {"input": {"fullName": "Андреева Алла Антоновна", "birthDate": years_ago(8).isoformat(), "municipality": "01"}},
        token=t["guardian A"],
    )
    w["application A"] = pending["data"]["certificateApply"]["application"]["id"]
    children = await ok(gql, "{ viewer { children { id } } }", {}, t["guardian A"])
    w["child A"] = children["viewer"]["children"][0]["id"]

    for inn, muni, op, staff, key in (
        (INN_X, "01", "operator 01", "provider X", "X"),
        (INN_Y, "02", "operator 02", "provider Y", "Y"),
    ):
        reg = await ok(
            gql,
            """mutation($inn: String!, $m: String!) { providerRegister(input: {name: "Центр творчества",
            inn: $inn, municipality: $m}) { provider { id } userErrors { code } } }""",
            {"inn": inn, "m": muni},
            t[op],
        )
        w[f"provider {key}"] = reg["providerRegister"]["provider"]["id"]
        prog = await ok(
            gql,
            """mutation($m: String!) { programCreate(input: {title: "Робототехника",
            description: "Конструирование и программирование роботов.", direction: TECHNICAL, minAge: 7, maxAge: 14,
            municipality: $m}) { program { id } userErrors { code message } } }""",
            {"m": muni},
            t[staff],
        )
        w[f"program {key}"] = prog["programCreate"]["program"]["id"]
        await ok(
            gql,
            "mutation($p: ID!) { programCertify(input: {programId: $p, certified: true}) { userErrors { code } } }",
            {"p": w[f"program {key}"]},
            t[op],
        )
        first = today.replace(day=1)
        grp = await ok(
            gql,
            """mutation($p: ID!, $s: Date!, $e: Date!) { groupCreate(input: {programId: $p,
            name: "Группа 1", startsOn: $s, endsOn: $e, capacity: 10, price: 300000}) { group { id } userErrors { code } } }""",
            {
                "p": w[f"program {key}"],
                "s": first.isoformat(),
                "e": (add_months(first, 3) - timedelta(days=1)).isoformat(),
            },
            t[staff],
        )
        w[f"group {key}"] = grp["groupCreate"]["group"]["id"]

    created = await ok(
        gql,
        """mutation($c: ID!, $g: ID!) { enrollmentCreate(input: {certificateId: $c, groupId: $g,
        idempotencyKey: "a-1"}) { enrollment { id } userErrors { code } } }""",
        {"c": w["certificate A"], "g": w["group X"]},
        t["guardian A"],
    )
    w["enrollment A"] = created["enrollmentCreate"]["enrollment"]["id"]
    await ok(
        gql,
        "mutation($e: ID!) { enrollmentAccept(input: {enrollmentId: $e}) { userErrors { code } } }",
        {"e": w["enrollment A"]},
        t["provider X"],
    )
    await ok(
        gql,
        """mutation($m: Date!, $e: ID!) { provisionReport(input: {month: $m, items: [{enrollmentId: $e,
        completeness: 100}]}) { userErrors { code } } }""",
        {"m": w["month"], "e": w["enrollment A"]},
        t["provider X"],
    )
    review = await ok(
        gql,
        """mutation($e: ID!) { programReview(input: {enrollmentId: $e, rating: 5, text: "Отлично"}) {
        review { id } userErrors { code } } }""",
        {"e": w["enrollment A"]},
        t["guardian A"],
    )
    w["review A"] = review["programReview"]["review"]["id"]
    tx = await ok(
        gql,
        "query($n: String!) { certificateByNumber(number: $n) { transactions(first: 1) { edges { node { id } } } } }",
        {"n": w["number A"]},
        t["guardian A"],
    )
    w["transaction A"] = tx["certificateByNumber"]["transactions"]["edges"][0]["node"]["id"]

    from pdo_graph.ids import decode_pk, encode_id

    async with db.begin() as conn:
        source = (
            await conn.execute(
                text(
                    "INSERT INTO catalog_sources (provider_id, feed_url, format, issuer, client_id, client_auth)"
                    " VALUES (:p, 'https://x.example/feed', 'PDO_CATALOG_V1', 'https://idp.x.example', 'x', 'CLIENT_SECRET_BASIC')"
                    " RETURNING id"
                ),
                {"p": decode_pk(w["provider X"], "Provider")},
            )
        ).scalar_one()
        run = (
            await conn.execute(
                text(
                    "INSERT INTO catalog_sync_runs (source_id, status, finished_at) VALUES (:s, 'SUCCEEDED', now()) RETURNING id"
                ),
                {"s": source},
            )
        ).scalar_one()
    w["source X"], w["run X"] = encode_id("CatalogSource", source), encode_id("CatalogSyncRun", run)
    # operator 01 reads child A: an audit entry of municipality 01
    await ok(
        gql, "query($id: ID!) { node(id: $id) { ... on Child { fullName } } }", {"id": w["child A"]}, t["operator 01"]
    )
    audit = await ok(gql, "{ auditLog(first: 1) { edges { node { id } } } }", {}, t["operator 01"])
    w["audit A"] = audit["auditLog"]["edges"][0]["node"]["id"]
    async with db.begin() as conn:  # a notification of guardian A
        notification = (
            await conn.execute(
                text(
                    "INSERT INTO notifications (guardian_id, kind, title, body)"
                    " SELECT id, 'CERTIFICATE_ISSUED', 'Сертификат выдан', '' FROM guardians WHERE subject = 'ga'"
                    " RETURNING id"
                )
            )
        ).scalar_one()
    w["notification A"] = encode_id("Notification", notification)
    # the month's statement of payer 01 and provider X (a DRAFT, created with the report's charge)
    statements = await ok(
        gql, "query($m: Date!) { settlementStatements(month: $m) { id } }", {"m": w["month"]}, t["operator 01"]
    )
    w["statement A"] = statements["settlementStatements"][0]["id"]
    return w


NODE_IDS = {
    "Child": "child A",
    "Certificate": "certificate A",
    "CertificateApplication": "application A",
    "Transaction": "transaction A",
    "Enrollment": "enrollment A",
    "CatalogSource": "source X",
    "CatalogSyncRun": "run X",
    "FundingPeriod": "period 01",
    "Provider": "provider X",
    "Program": "program X",
    "Group": "group X",
    "Review": "review A",
    "AuditEntry": "audit A",
    "Notification": "notification A",
    "SettlementStatement": "statement A",
}

ATTACKERS = ("guardian B", "provider Y", "operator 02", "analyst", "anonymous")


def refused(body: dict[str, Any], field: str, object_key: str | None) -> bool:
    """Denied: a top-level auth error, or a payload whose object is null and whose userErrors deny."""
    errors = body.get("errors") or []
    if errors:
        return all((e.get("extensions") or {}).get("code") in DENIED | {"BAD_USER_INPUT"} for e in errors)
    payload = body["data"][field]
    if payload is None:
        return True
    codes = {e["code"] for e in payload.get("userErrors", [])}
    return (
        bool(codes)
        and codes <= DENIED | {"DUPLICATE", "INVALID"}
        and (object_key is None or payload.get(object_key) in (None, []))
        and bool(codes & (DENIED | {"DUPLICATE"}))
    )


# mutation -> (document, variables from the world, the payload's object field, roles that may legitimately
# call it for their own tenant: they are not attackers for this mutation)
def mutations(w: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any], str | None, set[str]]]:
    m = w["month"]
    return {
        "certificateApply": (
            'mutation($m: String!) { r: certificateApply(input: {fullName: "Андреев Антон Антонович", '
            f'birthDate: "{years_ago(10, days=40).isoformat()}", municipality: $m}}) {{ application {{ id }} userErrors {{ code }} }} }}',
            {"m": "01"},
            "application",
            set(),
        ),
        "certificateIssue": (
            "mutation($id: ID!) { r: certificateIssue(input: {applicationId: $id}) { certificate { id } userErrors { code } } }",
            {"id": w["application A"]},
            "certificate",
            set(),
        ),
        "certificateFreeze": (
            "mutation($id: ID!) { r: certificateFreeze(input: {certificateId: $id}) { certificate { id } userErrors { code } } }",
            {"id": w["certificate A"]},
            "certificate",
            set(),
        ),
        "certificateUnfreeze": (
            "mutation($id: ID!) { r: certificateUnfreeze(input: {certificateId: $id}) { certificate { id } userErrors { code } } }",
            {"id": w["certificate A"]},
            "certificate",
            set(),
        ),
        "certificateRevoke": (
            "mutation($id: ID!) { r: certificateRevoke(input: {certificateId: $id}) { certificate { id } userErrors { code } } }",
            {"id": w["certificate A"]},
            "certificate",
            set(),
        ),
        "fundingPeriodOpen": (
            'mutation { r: fundingPeriodOpen(input: {municipality: "01", startsOn: "2031-01-01", '
            'endsOn: "2031-12-31", nominals: [{minAge: 5, maxAge: 17, kopecks: 1}]}) { period { id } userErrors { code } } }',
            {},
            "period",
            set(),
        ),
        "fundingPeriodUpdate": (
            "mutation($id: ID!) { r: fundingPeriodUpdate(input: {periodId: $id, fundedCertificateLimit: 0}) { period { id } userErrors { code } } }",
            {"id": w["period 01"]},
            "period",
            set(),
        ),
        "fundingPeriodClose": (
            "mutation($id: ID!) { r: fundingPeriodClose(input: {periodId: $id}) { period { id } userErrors { code } } }",
            {"id": w["period 01"]},
            "period",
            set(),
        ),
        "providerRegister": (
            f'mutation {{ r: providerRegister(input: {{name: "Клон", inn: "{inn_with_checksum("123456789")}", '
            'municipality: "01"}) { provider { id } userErrors { code } } }',
            {},
            "provider",
            set(),
        ),
        "providerUpdate": (
            'mutation($id: ID!) { r: providerUpdate(input: {providerId: $id, name: "Взлом"}) { provider { id } userErrors { code } } }',
            {"id": w["provider X"]},
            "provider",
            set(),
        ),
        "programCreate": (
            'mutation { r: programCreate(input: {title: "Своя программа", description: "Описание своей программы.", '
            'direction: ARTS, minAge: 7, maxAge: 12, municipality: "02"}) { program { id } userErrors { code } } }',
            {},
            "program",
            {"provider Y"},
        ),
        "programUpdate": (
            'mutation($id: ID!) { r: programUpdate(input: {programId: $id, title: "Взлом"}) { program { id } userErrors { code } } }',
            {"id": w["program X"]},
            "program",
            set(),
        ),
        "programArchive": (
            "mutation($id: ID!) { r: programArchive(input: {programId: $id}) { program { id } userErrors { code } } }",
            {"id": w["program X"]},
            "program",
            set(),
        ),
        "programCertify": (
            "mutation($id: ID!) { r: programCertify(input: {programId: $id, certified: false}) { program { id } userErrors { code } } }",
            {"id": w["program X"]},
            "program",
            set(),
        ),
        "groupCreate": (
            'mutation($id: ID!) { r: groupCreate(input: {programId: $id, name: "Чужая", startsOn: "2031-01-01", '
            'endsOn: "2031-05-31", capacity: 5, price: 100}) { group { id } userErrors { code } } }',
            {"id": w["program X"]},
            "group",
            set(),
        ),
        "groupUpdate": (
            "mutation($id: ID!) { r: groupUpdate(input: {groupId: $id, capacity: 2}) { group { id } userErrors { code } } }",
            {"id": w["group X"]},
            "group",
            set(),
        ),
        "groupClose": (
            "mutation($id: ID!) { r: groupClose(input: {groupId: $id}) { group { id } userErrors { code } } }",
            {"id": w["group X"]},
            "group",
            set(),
        ),
        "groupArchive": (
            "mutation($id: ID!) { r: groupArchive(input: {groupId: $id}) { group { id } userErrors { code } } }",
            {"id": w["group X"]},
            "group",
            set(),
        ),
        "enrollmentCreate": (
            "mutation($c: ID!, $g: ID!) { r: enrollmentCreate(input: {certificateId: $c, groupId: $g, "
            'idempotencyKey: "attack"}) { enrollment { id } userErrors { code } } }',
            {"c": w["certificate A"], "g": w["group Y"]},
            "enrollment",
            set(),
        ),
        "enrollmentAccept": (
            "mutation($id: ID!) { r: enrollmentAccept(input: {enrollmentId: $id}) { enrollment { id } userErrors { code } } }",
            {"id": w["enrollment A"]},
            "enrollment",
            set(),
        ),
        "enrollmentRefuse": (
            "mutation($id: ID!) { r: enrollmentRefuse(input: {enrollmentId: $id}) { enrollment { id } userErrors { code } } }",
            {"id": w["enrollment A"]},
            "enrollment",
            set(),
        ),
        "certificateApplicationReject": (
            'mutation($id: ID!) { r: certificateApplicationReject(input: {applicationId: $id, reason: "Нет"}) '
            "{ application { id } userErrors { code } } }",
            {"id": w["application A"]},
            "application",
            set(),
        ),
        "contractsProlong": (
            "mutation($p: ID!, $e: ID!) { r: contractsProlong(input: {periodId: $p, enrollmentIds: [$e]}) "
            "{ prolonged { id } userErrors { code } } }",
            {"p": w["period 01"], "e": w["enrollment A"]},
            "prolonged",
            set(),
        ),
        "enrollmentConsent": (
            "mutation($id: ID!) { r: enrollmentConsent(input: {enrollmentId: $id, expectedFromFamily: 0}) "
            "{ enrollment { id } userErrors { code } } }",
            {"id": w["enrollment A"]},
            "enrollment",
            set(),
        ),
        "settlementStatementIssue": (
            "mutation($id: ID!) { r: settlementStatementIssue(input: {statementId: $id}) "
            "{ statement { id } userErrors { code } } }",
            {"id": w["statement A"]},
            "statement",
            set(),
        ),
        "enrollmentCancel": (
            "mutation($id: ID!) { r: enrollmentCancel(input: {enrollmentId: $id}) { enrollment { id } userErrors { code } } }",
            {"id": w["enrollment A"]},
            "enrollment",
            set(),
        ),
        "provisionReport": (
            "mutation($m: Date!, $id: ID!) { r: provisionReport(input: {month: $m, items: [{enrollmentId: $id, "
            "completeness: 0}]}) { contracts userErrors { code } } }",
            {"m": m, "id": w["enrollment A"]},
            None,
            set(),
        ),
        "notificationsMarkRead": (
            "mutation($id: ID!) { r: notificationsMarkRead(input: {ids: [$id]}) { unread userErrors { code } } }",
            {"id": w["notification A"]},
            None,
            set(),
        ),
        "programReview": (
            "mutation($id: ID!) { r: programReview(input: {enrollmentId: $id, rating: 1}) { review { id } userErrors { code } } }",
            {"id": w["enrollment A"]},
            "review",
            set(),
        ),
        "catalogSourceCreate": (
            'mutation($p: ID!) { r: catalogSourceCreate(input: {providerId: $p, feedUrl: "https://evil.example/feed", '
            'format: PDO_CATALOG_V1, issuer: "https://evil.example", clientId: "e", clientAuth: CLIENT_SECRET_BASIC}) '
            "{ source { id } userErrors { code } } }",
            {"p": w["provider X"]},
            "source",
            set(),
        ),
        "catalogSourceUpdate": (
            'mutation($id: ID!) { r: catalogSourceUpdate(input: {sourceId: $id, feedUrl: "https://evil.example/f"}) '
            "{ source { id } userErrors { code } } }",
            {"id": w["source X"]},
            "source",
            set(),
        ),
        "catalogSourcePause": (
            "mutation($id: ID!) { r: catalogSourcePause(input: {sourceId: $id}) { source { id } userErrors { code } } }",
            {"id": w["source X"]},
            "source",
            set(),
        ),
        "catalogSourceDelete": (
            "mutation($id: ID!) { r: catalogSourceDelete(input: {sourceId: $id}) { userErrors { code } } }",
            {"id": w["source X"]},
            None,
            set(),
        ),
        "catalogSourceSync": (
            "mutation($id: ID!) { r: catalogSourceSync(input: {sourceId: $id}) { run { id } userErrors { code } } }",
            {"id": w["source X"]},
            "run",
            set(),
        ),
        "catalogUpsert": (
            'mutation { r: catalogUpsert(input: {items: [{externalId: "e1", title: "Своя программа", '
            'description: "Описание своей программы.", direction: ARTS, minAge: 7, maxAge: 12, municipality: "02", '
            "groups: []}]}) { results { program { id } } userErrors { code } } }",
            {},
            None,
            {"provider Y"},
        ),
    }


# query field -> (document, variables, a predicate "denied or shows nothing of tenant A")
def queries(w: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any], Any]]:
    def empty_or_denied(path: str):
        def check(body: dict[str, Any]) -> bool:
            if body.get("errors"):
                return all((e.get("extensions") or {}).get("code") in DENIED for e in body["errors"])
            value = body["data"][path]
            if isinstance(value, dict) and "edges" in value:
                return value["edges"] == []
            return value in (None, [])

        return check

    def quote_denied(body: dict[str, Any]) -> bool:
        if body.get("errors"):
            return all((e.get("extensions") or {}).get("code") in DENIED for e in body["errors"])
        q = body["data"]["quote"]
        return {e["code"] for e in q["userErrors"]} & DENIED != set() and q["fromCertificate"]["kopecks"] == 0

    def viewer_has_nothing_of_a(body: dict[str, Any]) -> bool:
        v = body["data"]["viewer"]
        return all(c["id"] != w["child A"] for c in v["children"]) and (
            v["provider"] is None or v["provider"]["id"] != w["provider X"]
        )

    def analytics_denied(body: dict[str, Any]) -> bool:
        if body.get("errors"):
            return all((e.get("extensions") or {}).get("code") in DENIED for e in body["errors"])
        return all(r["municipality"] != "01" for r in body["data"]["analyticsSummary"])

    def table_denied(body: dict[str, Any]) -> bool:
        """Only a refusal: nobody but an analyst or the operator of 01 gets a table of 01 at all."""
        errors = body.get("errors") or []
        return bool(errors) and all((e.get("extensions") or {}).get("code") in DENIED for e in errors)

    def no_application_of_a(body: dict[str, Any]) -> bool:
        if body.get("errors"):
            return all((e.get("extensions") or {}).get("code") in DENIED for e in body["errors"])
        edges = body["data"]["certificateApplications"]["edges"]
        return all(e["node"]["id"] != w["application A"] for e in edges)

    return {
        "certificateApplications": (
            "{ certificateApplications(first: 100) { edges { node { id } } } }",
            {},
            no_application_of_a,
        ),
        "settlementStatements": (
            'query($m: Date!) { settlementStatements(month: $m, municipality: "01") { id } }',
            {"m": w["month"]},
            empty_or_denied("settlementStatements"),
        ),
        "viewer": ("{ viewer { children { id } provider { id } } }", {}, viewer_has_nothing_of_a),
        "certificateByNumber": (
            "query($n: String!) { certificateByNumber(number: $n) { id } }",
            {"n": w["number A"]},
            empty_or_denied("certificateByNumber"),
        ),
        "quote": (
            "query($c: ID!, $g: ID!) { quote(certificateId: $c, groupId: $g) { fromCertificate { kopecks } userErrors { code } } }",
            {"c": w["certificate A"], "g": w["group X"]},
            quote_denied,
        ),
        "providerEnrollments": (
            "{ providerEnrollments(first: 10) { edges { node { id } } } }",
            {},
            empty_or_denied("providerEnrollments"),
        ),
        "providerSettlement": (
            "query($p: ID!, $m: Date!) { providerSettlement(providerId: $p, month: $m) { contracts } }",
            {"p": w["provider X"], "m": w["month"]},
            empty_or_denied("providerSettlement"),
        ),
        "municipalitySettlements": (
            "query($m: Date!) { municipalitySettlements(month: $m) { provider { id } } }",
            {"m": w["month"]},
            lambda b: (
                empty_or_denied("municipalitySettlements")(b)
                or all(s["provider"]["id"] != w["provider X"] for s in b["data"]["municipalitySettlements"])
            ),
        ),
        "catalogSources": (
            "{ catalogSources(first: 10) { edges { node { id } } } }",
            {},
            empty_or_denied("catalogSources"),
        ),
        "auditLog": (
            "query($c: ID!) { auditLog(first: 10, childId: $c) { edges { node { id } } } }",
            {"c": w["child A"]},
            empty_or_denied("auditLog"),
        ),
        "analyticsSummary": (
            'query($m: Date!) { analyticsSummary(filter: {monthFrom: $m, monthTo: $m, municipality: "01"}) { municipality } }',
            {"m": w["month"]},
            analytics_denied,
        ),
        "analytics": (
            "{ analytics(measures: [CHILDREN_ENROLLED, SPENT], by: [MUNICIPALITY, DIRECTION], "
            'filter: {municipality: "01"}) { rows csvUrl } }',
            {},
            table_denied,
        ),
    }


# Public by design (the navigator, reference data, node() itself is the Node matrix).
PUBLIC_QUERIES = {"node", "nodes", "municipalities", "programs", "programReviews"}
ANALYST_MAY = {"analyticsSummary", "analytics"}  # analysts read aggregates of every municipality


async def test_authorization_matrix(gql, token, db):
    w = await build_world(gql, token, db)
    t = w["tokens"]
    intro = (
        await gql("""{ __schema { queryType { fields { name } } mutationType { fields { name } }
        types { name kind interfaces { name } } } }""")
    )["data"]["__schema"]
    query_fields = {f["name"] for f in intro["queryType"]["fields"]}
    mutation_fields = {f["name"] for f in intro["mutationType"]["fields"]}
    node_types = {ty["name"] for ty in intro["types"] if any(i["name"] == "Node" for i in ty["interfaces"] or [])}
    q_rules, m_rules = queries(w), mutations(w)
    assert query_fields - PUBLIC_QUERIES - set(q_rules) == set(), "query fields without an authorization rule"
    assert mutation_fields - set(m_rules) == set(), "mutations without an authorization rule"
    assert node_types - set(NODE_IDS) == set(), "Node types without an authorization rule"
    tried = 0

    node_q = "query($id: ID!) { node(id: $id) { id } }"
    for type_name in sorted(node_types):
        gid = w[NODE_IDS[type_name]]
        if type_name in PUBLIC_NODES:
            continue
        owner = await gql(node_q, {"id": gid}, token=t[OWNER_OF_NODE[type_name]])
        assert owner["data"]["node"] == {"id": gid}, f"{OWNER_OF_NODE[type_name]} cannot see its own {type_name}"
        for attacker in ATTACKERS:
            body = await gql(node_q, {"id": gid}, token=t[attacker])
            assert body["data"]["node"] is None, f"{attacker} read {type_name} of tenant A"
            tried += 1

    # nodes(ids:) checks each id as node(id:) does: every private object of tenant A at once
    private = [w[NODE_IDS[name]] for name in sorted(node_types) if name not in PUBLIC_NODES]
    nodes_q = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    for attacker in ATTACKERS:
        body = await gql(nodes_q, {"ids": private}, token=t[attacker])
        assert body["data"]["nodes"] == [None] * len(private), f"{attacker} read tenant A through nodes: {body}"
        tried += 1
    owned = [w[NODE_IDS[name]] for name in sorted(node_types) if OWNER_OF_NODE.get(name) == "guardian A"]
    body = await gql(nodes_q, {"ids": [*owned, private[0]]}, token=t["guardian A"])
    assert [n and n["id"] for n in body["data"]["nodes"]][: len(owned)] == owned

    for name, (doc, variables, denied) in q_rules.items():
        for attacker in ATTACKERS:
            if attacker == "analyst" and name in ANALYST_MAY:
                continue
            body = await gql(doc, variables, token=t[attacker])
            assert denied(body), f"{attacker} got tenant A's data from {name}: {body}"
            tried += 1

    for name, (doc, variables, object_key, legit) in m_rules.items():
        for attacker in ATTACKERS:
            if attacker in legit:
                continue
            body = await gql(doc, variables, token=t[attacker])
            assert refused(body, "r", object_key), f"{attacker} was not refused {name}: {body}"
            tried += 1

    # nothing of tenant A changed
    state = await ok(
        gql,
        """query($n: String!, $e: ID!, $p: ID!) { certificateByNumber(number: $n) { status }
        e: node(id: $e) { ... on Enrollment { status } } p: node(id: $p) { ... on Program { title certified archived } } }""",
        {"n": w["number A"], "e": w["enrollment A"], "p": w["program X"]},
        t["guardian A"],
    )
    assert state == {
        "certificateByNumber": {"status": "ACTIVE"},
        "e": {"status": "ACTIVE"},
        "p": {"title": "Робототехника", "certified": True, "archived": False},
    }
    source = await gql(node_q, {"id": w["source X"]}, token=t["operator 01"])
    assert source["data"]["node"] == {"id": w["source X"]}
    print(
        f"\nauthorization matrix: {len(node_types)} node types, {len(query_fields)} query fields, "
        f"{len(mutation_fields)} mutations x {len(ATTACKERS)} roles: {tried} denials asserted"
    )
