"""Faults of a provider's feed and issuer: each survived, the catalog consistent, the run record telling."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from pdo_graph.integrations.sync.run import SyncBusy
from tests.integrations.conftest import FAST, catalog_rows, pdo_group, pdo_program, run_row, source_row


def events(run) -> list[str]:
    return [e["key"] for e in run.events]


@pytest.fixture
async def source(db, feed, provider_x, make_source):
    feed.put(*[pdo_program(f"P-{i}", 100 + i) for i in range(7)])
    return await make_source(provider_x)


async def assert_complete(db, provider_x, count=7):
    catalog = await catalog_rows(db, provider_x)
    assert sorted(catalog) == sorted(f"P-{i}" for i in range(count))
    assert all(len(p["groups"]) == 2 for p in catalog.values())


async def test_server_errors_are_retried_with_backoff(db, feed, provider_x, source, sync):
    feed.fail(2, 500)
    summary = await sync(source)
    assert (summary.status, summary.created) == ("SUCCEEDED", 7)
    run = await run_row(db, summary.run_id)
    retries = [e for e in run.events if e["key"] == "sync_event_http_status"]
    assert [e["params"]["status"] for e in retries] == [500, 500]
    assert all(0 < e["params"]["delay"] <= FAST.retry.backoff_max for e in retries)
    await assert_complete(db, provider_x)


async def test_retries_are_bounded_and_the_next_run_resumes(db, feed, provider_x, source, sync):
    from pdo_graph.integrations.sync.run import RunHooks

    assert (await sync(source)).status == "SUCCEEDED"
    feed.put(*[pdo_program(f"P-{i}", 100 + i) for i in range(7, 12)])
    feed.page_size = 2

    def break_after_first_page(page):
        if page == 1:
            feed.fail(10, 503)  # the feed breaks down for good

    broken = await sync(source, hooks=RunHooks(after_commit=break_after_first_page))
    assert broken.status == "FAILED" and broken.created == 2
    run = await run_row(db, broken.run_id)
    assert run.message_key == "sync_feed_gave_up"
    assert run.message_params["attempts"] == FAST.retry.max_attempts
    assert run.message_params["cause"]["key"] == "sync_event_http_status"
    assert "503" in summary_message(broken, "en") and "503" in (run.message or "")
    feed.faults.clear()
    resumed = await sync(source)
    assert (resumed.status, resumed.created, resumed.updated) == ("SUCCEEDED", 3, 0)
    await assert_complete(db, provider_x, 12)


def summary_message(summary, lang):
    return summary.message(lang) or ""


async def test_slow_responses_time_out_and_are_retried(db, feed, provider_x, source, sync):
    feed.slow(1, 2.0)
    started = time.monotonic()
    summary = await sync(source)
    assert summary.status == "SUCCEEDED"
    assert time.monotonic() - started < 2.0  # did not wait for the slow answer
    run = await run_row(db, summary.run_id)
    assert "sync_event_timeout" in events(run)
    await assert_complete(db, provider_x)


async def test_429_waits_for_retry_after(db, feed, provider_x, source, sync):
    feed.rate_limit(1, 1)
    started = time.monotonic()
    summary = await sync(source)
    assert summary.status == "SUCCEEDED"
    assert time.monotonic() - started >= 1.0
    run = await run_row(db, summary.run_id)
    limited = [e for e in run.events if e["key"] == "sync_event_rate_limited"]
    assert limited and limited[0]["params"]["delay"] == 1.0
    await assert_complete(db, provider_x)


async def test_429_asking_too_long_stops_the_run(db, feed, provider_x, source, sync):
    feed.rate_limit(1, 3600)
    summary = await sync(source)
    assert summary.status == "FAILED" and summary.message_key == "sync_feed_rate_limited_long"
    assert await catalog_rows(db, provider_x) == {}
    assert (await sync(source)).status == "SUCCEEDED"


async def test_malformed_json_is_retried_then_reported(db, feed, provider_x, source, sync):
    feed.malformed(1)
    ok = await sync(source)
    assert ok.status == "SUCCEEDED"
    assert "sync_event_malformed_json" in events(await run_row(db, ok.run_id))

    feed.put(pdo_program("P-7", 300))
    feed.malformed(10)
    bad = await sync(source)
    assert bad.status == "FAILED"
    run = await run_row(db, bad.run_id)
    assert run.message_params["cause"]["key"] == "sync_event_malformed_json"
    feed.faults.clear()
    assert (await sync(source)).created == 1


async def test_an_invalid_item_is_recorded_and_skipped(db, feed, provider_x, sync, make_source):
    feed.put(
        pdo_program("P-1", 100),
        pdo_program("P-2", 101, minAge=12, maxAge=7, groups=[pdo_group("G-1", capacity="many")]),
        pdo_program("P-3", 102),
        {"id": "P-4", "state": "updated", "kind": "program", "modified": "soon", "data": {}},
        {"id": "P-5", "state": "gone", "kind": "program", "modified": 104},
    )
    source = await make_source(provider_x)
    summary = await sync(source)
    assert (summary.status, summary.created, summary.failed) == ("PARTIAL", 2, 3)
    run = await run_row(db, summary.run_id)
    by_id = {f["externalId"]: f for f in run.failures}
    assert {p["key"] for p in by_id["P-2"]["problems"]} == {"sync_field_type"}
    assert by_id["P-4"]["problems"][0]["key"] == "sync_item_bad_modified"
    assert by_id["P-5"]["problems"][0]["key"] == "sync_item_bad_state"
    assert sorted(await catalog_rows(db, provider_x)) == ["P-1", "P-3"]
    # domain validation: both problems of one item, with their paths
    feed.put(pdo_program("P-2", 200, minAge=12, maxAge=7, title="Я"))
    again = await sync(source)
    failure = (await run_row(db, again.run_id)).failures[0]
    assert sorted(tuple(p["field"]) for p in failure["problems"]) == [("data", "maxAge"), ("data", "title")]


async def test_an_expired_token_is_fetched_again_once(db, feed, provider_x, source, sync, tokens):
    from pdo_graph.integrations.sync.run import RunHooks

    def expire_after_first_page(page):
        if page == 1:
            feed.expire_tokens()

    summary = await sync(source, hooks=RunHooks(after_commit=expire_after_first_page))
    assert summary.status == "SUCCEEDED"
    run = await run_row(db, summary.run_id)
    assert events(run) == ["sync_event_full_harvest", "sync_event_token_refetch"]
    jtis = {entry.jti for entry in feed.served()}
    assert len(jtis) == 2  # one token for the pages before, one after
    assert [e.status for e in feed.log].count(401) == 1
    await assert_complete(db, provider_x)


async def test_a_token_the_feed_keeps_refusing_fails_the_run(db, feed, provider_x, source, sync, monkeypatch):
    feed.audience, real = "https://someone-else.test/feed", feed.audience
    try:
        summary = await sync(source)
    finally:
        feed.audience = real
    assert summary.status == "FAILED" and summary.message_key == "sync_feed_unauthorized"
    assert [e.status for e in feed.log] == [401, 401]


async def test_private_key_jwt_client_gets_fresh_assertions(db, feed, provider_x, make_source, sync):
    from pdo_graph.integrations.sync.run import RunHooks

    feed.put(*[pdo_program(f"P-{i}", 100 + i) for i in range(7)])
    source = await make_source(provider_x, jwt_client=True)

    def expire(page):
        feed.expire_tokens()  # every page needs a new token: each needs a new client assertion (new jti)

    summary = await sync(source, hooks=RunHooks(after_commit=expire))
    assert summary.status == "SUCCEEDED"
    assert len({entry.jti for entry in feed.served()}) == summary.pages


async def test_signing_key_rotation(db, feed, provider_x, source, sync, oidc_provider, tokens):
    first = await sync(source)
    assert first.status == "SUCCEEDED"
    old_kid = feed.served()[-1].kid
    await asyncio.to_thread(oidc_provider.rotate_keys)
    feed.refresh_jwks()  # the resource server picks up the issuer's new key set
    feed.put(pdo_program("P-7", 300))
    second = await sync(source)  # the cached token is signed with a key that is gone
    assert (second.status, second.created) == ("SUCCEEDED", 1)
    assert "sync_event_token_refetch" in events(await run_row(db, second.run_id))
    assert feed.served()[-1].kid != old_kid
    assert [e.status for e in feed.log[-3:]] == [401, 200, 200]


async def test_ordering_violation_stops_the_run(db, feed, provider_x, source, sync):
    feed.ge_bug = True  # pages repeat their last item: a consumer that trusts `next` loops for ever
    summary = await asyncio.wait_for(sync(source), timeout=10)
    assert summary.status == "FAILED" and summary.message_key == "sync_feed_ordering"
    assert summary.message_params["id"] == "P-2"
    assert summary.pages == 1 and summary.created == 3
    run = await run_row(db, summary.run_id)
    assert "RPDE" in (run.message or "")
    src = await source_row(db, source)
    assert src.cursor.endswith("afterId=P-2")  # the good page stays; the next run starts there
    feed.ge_bug = False
    fixed = await sync(source)
    assert (fixed.status, fixed.created) == ("SUCCEEDED", 4)


@pytest.mark.slow
async def test_time_budget(db, feed, provider_x, source, sync):
    from pdo_graph.integrations.sync.run import RunHooks

    feed.page_size = 1
    summary = await sync(
        source, options=replace(FAST, time_budget=1.5), hooks=RunHooks(after_commit=lambda page: asyncio.sleep(0.5))
    )
    assert summary.status == "PARTIAL" and summary.message_key == "sync_budget_exhausted"
    assert 0 < summary.created < 7
    src = await source_row(db, source)
    assert src.next_run_at is not None
    rest = await sync(source)
    assert rest.status == "SUCCEEDED" and summary.created + rest.created == 7


async def test_one_run_per_source_at_a_time(db, feed, provider_x, source, sync):
    feed.slow(1, 0.4)
    first = asyncio.create_task(sync(source))
    await asyncio.sleep(0.15)
    with pytest.raises(SyncBusy):
        await sync(source)
    assert (await first).status == "SUCCEEDED"
    assert (await sync(source)).status == "SUCCEEDED"  # the lock was released


async def test_next_pointing_to_another_server_is_refused(db, feed, provider_x, make_source, sync):
    feed.put(pdo_program("P-1", 100))
    source = await make_source(provider_x, feed_url=feed.url.replace("127.0.0.1", "localhost"))
    summary = await sync(source)
    assert summary.status == "FAILED" and summary.message_key == "sync_page_foreign_next"
    assert len(feed.log) == 1  # the token was never sent to the other origin
