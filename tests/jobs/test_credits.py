"""A large period opening: the first batch in the mutation's transaction, the rest by the queue's
credit job in short transactions, progress visible meanwhile, nothing credited twice."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from pdo_graph.db.queue import CREDIT_PERIOD
from pdo_graph.db.session import transaction
from pdo_graph.domain import periods
from pdo_graph.domain.access import Actor
from pdo_graph.ids import encode_id
from pdo_graph.jobs import credit_period, run_housekeeping
from tests.enrollment.conftest import bulk_certificates
from tests.jobs.conftest import jobs, open_in_batches

PROGRESS = """query($id: ID!) { node(id: $id) { ... on FundingPeriod {
  creditProgress { certificatesFunded certificatesWaiting certificatesBeyondLimit done } } } }"""


async def credits_per_certificate(engine, period_id: int) -> dict[int, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT certificate_id, count(*) AS n FROM ledger_entries WHERE period_id = :p AND kind = 'CREDIT'"
                " GROUP BY certificate_id"
            ),
            {"p": period_id},
        )
        return {int(r.certificate_id): int(r.n) for r in rows}


async def test_a_large_opening_credits_one_batch_and_queues_the_rest(queue, gql, token):
    certificates = await bulk_certificates(queue, 25)
    opened = await open_in_batches(queue, batch=10)
    assert (opened.certificates_credited, opened.credited) == (10, 10 * 1_000_000)
    [job] = await jobs(queue, CREDIT_PERIOD)
    assert job.status == "todo" and job.args == {"period_id": opened.period_id, "batch": 10}
    period_id = encode_id("FundingPeriod", opened.period_id)
    seen = await gql(PROGRESS, {"id": period_id})
    assert seen["data"]["node"]["creditProgress"] == {
        "certificatesFunded": 10,
        "certificatesWaiting": 15,
        "certificatesBeyondLimit": 0,
        "done": False,
    }
    steps: list[tuple[int, int]] = []
    done = await credit_period(queue, opened.period_id, 10, lambda p: steps.append((p.funded, p.waiting)))
    assert steps == [(20, 5), (25, 0)] and done.done
    seen = await gql(PROGRESS, {"id": period_id})
    assert seen["data"]["node"]["creditProgress"]["done"] is True
    assert await credits_per_certificate(queue, opened.period_id) == {cid: 1 for _, cid in certificates}
    # run again (a retried job): nothing more
    again = await credit_period(queue, opened.period_id, 10)
    assert again.funded == 25
    assert await credits_per_certificate(queue, opened.period_id) == {cid: 1 for _, cid in certificates}


async def test_opening_again_queues_no_second_job_and_a_small_opening_none(queue):
    await bulk_certificates(queue, 12)
    first = await open_in_batches(queue, batch=5)
    again = await open_in_batches(queue, batch=5)
    assert first.credit_job is not None and again.credit_job is None and again.period_id == first.period_id
    assert again.certificates_credited == 5, "the repeat credits its own batch; the job waits for the rest"
    assert len(await jobs(queue, CREDIT_PERIOD)) == 1
    small = await open_in_batches(queue, batch=100, municipality="02")
    assert small.credit_job is None and len(await jobs(queue, CREDIT_PERIOD)) == 1


async def test_housekeeping_queues_credits_left_waiting(queue, settings):
    await bulk_certificates(queue, 8)
    opened = await open_in_batches(queue, batch=3)
    async with queue.begin() as conn:  # the job given up (or the period opened where no queue runs)
        await conn.execute(text("DELETE FROM procrastinate_jobs"))
    result = await run_housekeeping(queue, settings, date.today())
    assert result["credit_jobs_queued"] == 1
    [job] = await jobs(queue, CREDIT_PERIOD)
    assert job.args["period_id"] == opened.period_id
    again = await run_housekeeping(queue, settings, date.today())
    assert again["credit_jobs_queued"] == 0, "one job waits at most"


async def test_credits_stop_when_the_period_closes(queue):
    await bulk_certificates(queue, 9)
    opened = await open_in_batches(queue, batch=4)
    operator = Actor.operator("op-01", "01")
    await transaction(queue, lambda c: periods.close_period(c, operator, opened.period_id))
    done = await credit_period(queue, opened.period_id, 4)
    assert done.done and done.funded == 4 and done.waiting == 0
    assert len(await credits_per_certificate(queue, opened.period_id)) == 4
