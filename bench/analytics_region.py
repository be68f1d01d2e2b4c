"""The analysts' view at a region's scale: generate a region, refresh the aggregates, time a fixed set
of tables over HTTP.

    .venv/bin/python bench/analytics_region.py [--certificates 1000000 --municipalities 40 --providers 1500]
                                               [--keep] [--reuse DBNAME] [--runs 5]

With PDO_DATABASE_URL a scratch database is created on that server (dropped afterwards unless
--keep); without it the bench starts an embedded PostgreSQL in a temporary directory. The region
(pdo_graph/demo/region.py, set-based SQL) has 3 school years of certificates, funding periods,
contracts, monthly reports and about 10 ledger entries per certificate; its generation time, row
counts and the ledger check are printed, then the refresh job's time (the aggregates the tables
are read from), then each table of TABLES through ``POST /graphql`` with an analyst's token on the
real server (``pdo-graph serve``): rows, withheld share, and the time (median and worst of --runs,
after one warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
import uuid
from datetime import date

import httpx
from _common import admin, database_url, free_port, make_tmp, start_server, stop_server, wait_ready
from sqlalchemy import text

from pdo_graph.auth.principal import Role
from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token
from pdo_graph.db.embedded import EmbeddedPostgres
from pdo_graph.db.engine import async_url, make_engine, migrate
from pdo_graph.demo.region import Region, generate
from pdo_graph.domain.analytics.refresh import refresh
from pdo_graph.domain.ledger import check_invariants
from pdo_graph.domain.money import add_months

QUERY = """query($m: [AnalyticsMeasure!]!, $by: [AnalyticsDimension!]!, $f: AnalyticsQueryFilter) {
  analytics(measures: $m, by: $by, filter: $f) { columns rows suppressed asOf monthFrom monthTo } }"""


def tables(today: date) -> list[tuple[str, list[str], list[str], dict[str, object] | None]]:
    month = today.replace(day=1)
    school = date(today.year if today.month >= 9 else today.year - 1, 9, 1)
    last_year = {"monthFrom": add_months(school, -12).isoformat(), "monthTo": add_months(school, -1).isoformat()}
    return [
        (
            "certificates by municipality",
            ["CERTIFICATES", "FUNDED_CERTIFICATES", "QUEUED_CERTIFICATES"],
            ["MUNICIPALITY"],
            None,
        ),
        ("coverage by month x direction", ["CHILDREN_ENROLLED"], ["MONTH", "DIRECTION"], None),
        ("money by municipality", ["CREDITED", "RESERVED", "SPENT", "EXPIRED"], ["MUNICIPALITY"], None),
        ("spending by month x funding kind", ["SPENT", "ENROLLMENTS"], ["MONTH", "FUNDING_KIND"], None),
        (
            "school year: municipality x direction x age",
            ["CHILDREN_ENROLLED", "SPENT"],
            ["MUNICIPALITY", "DIRECTION", "AGE"],
            last_year,
        ),
        (
            "providers of municipality 01",
            ["AVERAGE_COMPLETENESS", "ENROLLMENTS", "SPENT"],
            ["PROVIDER"],
            {"municipality": "01"},
        ),
        ("age x direction", ["ENROLLMENTS", "CHILDREN_ENROLLED"], ["AGE", "DIRECTION"], last_year),
        ("certificates by month x municipality", ["CERTIFICATES", "CREDITED"], ["MONTH", "MUNICIPALITY"], None),
        ("providers of 02 by month", ["SPENT"], ["PROVIDER", "MONTH"], {"municipality": "02"}),
        (
            "last 12 months: municipality x kind x month",
            ["RESERVED", "CHILDREN_ENROLLED"],
            ["MUNICIPALITY", "FUNDING_KIND", "MONTH"],
            {"monthFrom": add_months(month, -11).isoformat()},
        ),
        ("every provider of the region", ["SPENT", "AVERAGE_COMPLETENESS"], ["PROVIDER"], None),
        ("grand totals", ["CHILDREN_ENROLLED", "ENROLLMENTS", "RESERVED", "SPENT", "AVERAGE_COMPLETENESS"], [], None),
        (
            "school year: municipality x direction x month",
            ["SPENT", "CHILDREN_ENROLLED"],
            ["MUNICIPALITY", "DIRECTION", "MONTH"],
            last_year,
        ),
        ("providers x funding kind", ["ENROLLMENTS", "AVERAGE_COMPLETENESS"], ["PROVIDER", "FUNDING_KIND"], None),
        ("providers of the region by month (too many rows)", ["SPENT"], ["PROVIDER", "MONTH"], None),
    ]


async def prepare(url: str, region: Region, reuse: bool) -> None:
    engine = make_engine(url, 2)
    try:
        if not reuse:
            await migrate(engine)
            started = time.perf_counter()
            async with engine.begin() as conn:
                steps = await generate(conn, region, date.today(), fast=True, progress=True)
            print(f"generated in {time.perf_counter() - started:.1f} s ({len(steps)} steps)", flush=True)
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        async with engine.connect() as conn:
            for table in ("certificates", "enrollments", "ledger_entries", "provision_reports", "period_fundings"):
                n = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                print(f"  {table:<20} {n:>12,}")
            started = time.perf_counter()
            violations = await check_invariants(conn)
            print(f"ledger check: {len(violations)} violations ({time.perf_counter() - started:.1f} s)", flush=True)
        done = await refresh(engine)
        assert done is not None
        steps = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in done.steps.items())
        print(f"refresh: {done.rows:,} aggregate rows in {done.seconds:.1f} s ({steps})", flush=True)
    finally:
        await engine.dispose()


def measure(port: int, token: str, runs: int) -> None:
    url = f"http://127.0.0.1:{port}/graphql"
    headers = {"authorization": f"Bearer {token}"}
    print(f"\n{'table':<52}{'rows':>7}{'withheld':>10}{'median ms':>11}{'worst ms':>10}")
    worst_all = 0.0
    with httpx.Client(timeout=120) as client:
        for name, measures, by, f in tables(date.today()):
            body = {"query": QUERY, "variables": {"m": measures, "by": by, "f": f}}
            times = []
            result = None
            for i in range(runs + 1):
                started = time.perf_counter()
                response = client.post(url, json=body, headers=headers)
                elapsed = time.perf_counter() - started
                result = response.json()
                if "errors" in result:
                    worst_all = max(worst_all, elapsed)
                    print(f"{name:<52} refused in {elapsed * 1000:.0f} ms: {result['errors'][0]['message']}")
                    break
                if i:
                    times.append(elapsed)
            else:
                assert result is not None
                t = result["data"]["analytics"]
                figures = len(t["rows"]) * len(measures)
                share = t["suppressed"] / figures if figures else 0.0
                worst_all = max(worst_all, max(times))
                print(
                    f"{name:<52}{len(t['rows']):>7}{share:>9.1%}{statistics.median(times) * 1000:>11.0f}"
                    f"{max(times) * 1000:>10.0f}"
                )
    print(f"\nslowest answer: {worst_all * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certificates", type=int, default=1_000_000)
    parser.add_argument("--municipalities", type=int, default=40)
    parser.add_argument("--providers", type=int, default=1_500)
    parser.add_argument("--enrollment-rate", type=float, default=0.35)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", help="use this existing database (kept by --keep) instead of generating")
    args = parser.parse_args()
    region = Region(
        municipalities=args.municipalities,
        certificates=args.certificates,
        providers=args.providers,
        enrollment_rate=args.enrollment_rate,
    )
    tmp = make_tmp("pdo-analytics-bench-")
    embedded = None
    external = os.environ.get("PDO_DATABASE_URL")
    if external:
        admin_url = async_url(external)
    else:
        embedded = EmbeddedPostgres(tmp)
        admin_url = embedded.start()
    name = args.reuse or f"pdo_analytics_{uuid.uuid4().hex[:8]}"
    if not args.reuse:
        asyncio.run(admin(admin_url, f'CREATE DATABASE "{name}"'))
    url = database_url(admin_url, name)
    server = None
    try:
        asyncio.run(prepare(url, region, reuse=bool(args.reuse)))
        port = free_port()
        log = open(tmp / "server.log", "wb")
        server = start_server(port, url, tmp, pool=4, workers=1, log=log)
        wait_ready(port, server)
        token = mint_dev_token(load_or_create_dev_key(tmp), role=Role.ANALYST, subject="bench-analyst")
        measure(port, token, args.runs)
    finally:
        if server is not None:
            stop_server(server)
        if not args.keep and not args.reuse:
            asyncio.run(admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', attempts=5))
        elif args.keep:
            print(f"kept database {name} (--reuse {name})")
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
