"""Enrollment: quote → application → contract → monthly charges; cancellation, expiry, reviews.

One rule, one place: ``terms`` is the money rule (pure); ``eligibility.assess`` computes the
terms and the refusals from the facts of a certificate and a group; ``apply.quote`` shows them and
``apply.create`` redoes them inside the transaction after taking the locks (a request goes through
``apply.apply_for``: the facts and the refusals on the read pool first, so a refusal costs no write). ``lifecycle`` moves a
contract (accept, refuse, cancel, bulk endings), ``provision`` charges it month by month,
``housekeeping`` expires and completes, ``reviews`` rates the program. ``draw`` is a group's fair
opening (PENDING_DRAW inside its window, the verifiable draw at its end), ``waitlist`` the queue of
a full group and its offers, ``plan`` several groups quoted and applied for together, ``notices``
the notifications they write.
``housekeeping`` expires and completes, ``reviews`` rates the program, ``prolong`` carries contracts
into the next period, ``consent`` holds the one rule of the family's confirmed share (QUOTE_CHANGED).

Problems carry the area's field names (``["certificateId"]``, ``["items", "3", "completeness"]``);
resolvers put them under the argument they concern.

Lock order (architecture.md), every service below follows it:

1. the funding period rows the money moves in (``periods.lock_shared``: ``FOR SHARE``, sorted;
   a close, an update or a funding run holds them exclusively, so every movement serialises
   with them and reads the period's state under the lock);
2. the certificate row (``FOR SHARE`` when applying; a revocation or a freeze holds it
   ``FOR NO KEY UPDATE``, so an application and a status change serialise);
3. the group's seat row (guarded ``UPDATE groups ... WHERE seats_taken < capacity`` or
   ``FOR NO KEY UPDATE``);
4. enrollment rows (``FOR NO KEY UPDATE``, sorted by id);
5. certificate balance rows (``FOR NO KEY UPDATE`` or ledger.post's guarded update, in
   certificate order);

and only then inserts that reference those rows (an insert takes foreign-key share locks first,
which deadlocks against a later row lock under contention). Provision reports take no seat
rows: periods, enrollment rows, then balances. Ending several contracts in one transaction (a
revocation, a period's close: ``end_contracts``) takes every period, group and enrollment lock,
each sorted, before the first balance.

Statuses: ``PENDING_DRAW -> REQUESTED | EXPIRED (lost the draw, or its period closed) | TERMINATED``,
``REQUESTED -> ACTIVE | REFUSED | EXPIRED | TERMINATED`` (the guardian withdraws an
unanswered application: TERMINATED with ``decided_at`` empty), ``ACTIVE -> TERMINATED |
COMPLETED``. ``decided_at`` is when the provider accepted or refused, so "was ever active" is
``decided_at IS NOT NULL`` for TERMINATED.
"""

from pdo_graph.domain.enrollment.apply import Quote, apply_for, create, quote
from pdo_graph.domain.enrollment.consent import consent, require_family_share
from pdo_graph.domain.enrollment.eligibility import Facts, assess, load_facts
from pdo_graph.domain.enrollment.housekeeping import (
    complete_finished_groups,
    completes,
    completion_due,
    expire_stale_applications,
)
from pdo_graph.domain.enrollment.lifecycle import (
    EnrollmentRecord,
    Status,
    accept,
    cancel,
    clean_reason,
    end_certificate_contracts,
    end_period_contracts,
    refuse,
)
from pdo_graph.domain.enrollment.prolong import prolong
from pdo_graph.domain.enrollment.provision import (
    ProvisionLine,
    ProvisionResult,
    Settlement,
    municipality_settlements,
    report_provision,
    settlement,
)
from pdo_graph.domain.enrollment.reviews import may_review, review
from pdo_graph.domain.enrollment.terms import (
    MonthShare,
    Terms,
    certificate_part,
    certificate_share,
    compute_terms,
    contract_price,
    contract_span,
    month_index,
    monthly_plan,
    provision_amounts,
    request_hash,
)

__all__ = [
    "EnrollmentRecord",
    "Facts",
    "MonthShare",
    "ProvisionLine",
    "ProvisionResult",
    "Quote",
    "Settlement",
    "Status",
    "Terms",
    "accept",
    "apply_for",
    "assess",
    "cancel",
    "certificate_part",
    "certificate_share",
    "clean_reason",
    "complete_finished_groups",
    "completes",
    "completion_due",
    "compute_terms",
    "consent",
    "contract_price",
    "contract_span",
    "create",
    "end_certificate_contracts",
    "end_period_contracts",
    "expire_stale_applications",
    "load_facts",
    "may_review",
    "month_index",
    "monthly_plan",
    "municipality_settlements",
    "prolong",
    "provision_amounts",
    "quote",
    "refuse",
    "report_provision",
    "request_hash",
    "require_family_share",
    "review",
    "settlement",
]
