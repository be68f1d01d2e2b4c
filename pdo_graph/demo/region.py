"""A generated region for the analysts' view: years of certificates, funding, contracts and money.

Set-based SQL (``generate_series``, ``INSERT ... SELECT``), so a region of a million certificates and
ten million ledger entries takes minutes (``bench/analytics_region.py``), and a small one a second
(the tests recompute every measure from the rows it writes). The money is consistent: balances
equal the journal, reserves equal the contracts', seats equal live contracts, closed periods hold
no money (``ledger.check_invariants`` passes), so the figures are those of a real ledger:

- municipalities ``01``..; providers of very different sizes (1 to 3 × ``programs_per_provider``
  programs, most of them small) with programs of every direction and funding kind; a group of each
  program in every school year (September to May);
- children with certificates issued over the years (45% before the first year), aged 5-17 at issue;
- a funding period per municipality and school year (past ones closed); every eligible
  certificate funded with the nominal of its age, except in every fifth municipality, whose limit
  leaves the last 10% queued (a few funded from the queue in January);
- contracts: a share of funded certificates each year (some with two), some joining late;
  completed, terminated, refused, expired, active or still requested; monthly reports with
  completeness, charges and releases until the last month, releases at the end, and at a period's
  close the leftovers expire.

Randomness comes from PostgreSQL's ``random()`` after ``setseed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

TZ = "Europe/Moscow"


@dataclass(frozen=True, slots=True)
class Region:
    municipalities: int = 40
    certificates: int = 1_000_000
    providers: int = 1_500
    programs_per_provider: int = 8
    years: int = 3
    enrollment_rate: float = 0.35  # of funded certificates, per school year
    seed: float = 0.42


def _at(day: str, clock: str = "12:00") -> str:
    """A local (Moscow) time on a date expression, as timestamptz."""
    return f"(({day})::date + time '{clock}') AT TIME ZONE '{TZ}'"


STEPS: list[tuple[str, str]] = [
    (
        "municipalities",
        """
INSERT INTO municipalities (code, name)
SELECT lpad(i::text, 2, '0'), 'Муниципальное образование ' || i FROM generate_series(1, :municipalities) i
ON CONFLICT (code) DO NOTHING
""",
    ),
    (
        "providers",
        """
INSERT INTO providers (name, inn, municipality)
SELECT 'Центр дополнительного образования № ' || i, '9' || lpad(i::text, 9, '0'),
       lpad((1 + floor(:municipalities * power(random(), 1.6)))::int::text, 2, '0')
  FROM generate_series(1, :providers) i
""",
    ),
    (
        "programs",
        """
INSERT INTO programs (provider_id, title, description, direction, min_age, max_age, municipality, certified,
                      funding_kind)
SELECT p.id, 'Программа ' || p.id || '-' || k, 'Занятия для детей и подростков', d.direction, a.min_age,
       least(17, a.min_age + 4 + floor(random() * 5)::int), p.municipality, f.kind = 'CERTIFICATE', f.kind
  FROM providers p
 CROSS JOIN LATERAL generate_series(1, 1 + floor(power(random(), 2) * 3 * :programs_per_provider + p.id * 0)::int) k
 CROSS JOIN LATERAL (SELECT (ARRAY['TECHNICAL','NATURAL_SCIENCE','PHYSICAL_SPORTS','ARTS','TOURISM_LOCAL_HISTORY',
                                   'SOCIAL_HUMANITARIAN'])[1 + floor(random() * 6 + p.id * 0 + k * 0)::int] AS direction) d
 CROSS JOIN LATERAL (SELECT 5 + floor(random() * 6 + p.id * 0 + k * 0)::int AS min_age) a
 CROSS JOIN LATERAL (SELECT CASE WHEN r < 0.8 THEN 'CERTIFICATE' WHEN r < 0.92 THEN 'MUNICIPAL' ELSE 'PAID' END AS kind
                       FROM (SELECT random() + k * 0 + p.id * 0 AS r) x) f
 WHERE p.inn LIKE '9%'
""",
    ),
    (
        "school years",
        """
CREATE TEMP TABLE g_years ON COMMIT DROP AS
SELECT y, (make_date(:current_start_year - (:years - 1 - y), 9, 1)) AS starts_on,
       (make_date(:current_start_year - (:years - 1 - y) + 1, 8, 31)) AS ends_on,
       y < :years - 1 AS closed
  FROM generate_series(0, :years - 1) y
""",
    ),
    (
        "groups",
        """
INSERT INTO groups (program_id, name, starts_on, ends_on, capacity, price, enrollment_open)
SELECT pr.id, 'Группа ' || (extract(year FROM y.starts_on)::int), y.starts_on,
       make_date(extract(year FROM y.starts_on)::int + 1, 5, 31), 40,
       CASE pr.funding_kind WHEN 'MUNICIPAL' THEN 0
            ELSE (300000 + floor(random() * 12) * 100000 + pr.id * 0)::bigint END,
       NOT y.closed
  FROM programs pr JOIN providers pv ON pv.id = pr.provider_id CROSS JOIN g_years y
 WHERE pv.inn LIKE '9%'
""",
    ),
    (
        "children",
        """
CREATE TEMP TABLE g_children ON COMMIT DROP AS
SELECT i, issued_on, (issued_on - make_interval(years => age_at_issue, days => extra))::date AS birth_date,
       municipality
  FROM (SELECT i,
               CASE WHEN random() < 0.45
                    THEN (SELECT starts_on FROM g_years WHERE y = 0) - (1 + floor(random() * 180))::int
                    ELSE (SELECT starts_on FROM g_years WHERE y = 0)
                         + floor(random() * (CAST(:today AS date) - 3 - (SELECT starts_on FROM g_years WHERE y = 0)))::int
               END AS issued_on,
               5 + floor(random() * 12)::int AS age_at_issue,
               floor(random() * 365)::int AS extra,
               lpad((1 + floor(:municipalities * power(random(), 1.6)))::int::text, 2, '0') AS municipality
          FROM generate_series(1, :certificates) i) x
""",
    ),
    (
        "guardians",
        "INSERT INTO guardians (subject) SELECT 'region-' || i FROM g_children ORDER BY i",
    ),
    (
        "children rows",
        """
INSERT INTO children (guardian_id, full_name, name_key, birth_date, municipality)
SELECT g.id, 'Ребёнок ' || c.i, 'region child ' || c.i, c.birth_date, c.municipality
  FROM g_children c JOIN guardians g ON g.subject = 'region-' || c.i
""",
    ),
    (
        "certificates",
        f"""
INSERT INTO certificates (number, child_id, municipality, status, issued_at, issued_on, valid_until)
SELECT '77' || ch.municipality || lpad(c.i::text, 8, '0'), ch.id, ch.municipality,
       CASE WHEN v.valid_until < CAST(:today AS date) THEN 'EXPIRED' ELSE 'ACTIVE' END,
       {_at("c.issued_on", "11:00")}, c.issued_on, v.valid_until
  FROM g_children c
  JOIN children ch ON ch.name_key = 'region child ' || c.i
 CROSS JOIN LATERAL (SELECT ((c.birth_date + interval '18 years')::date - 1) AS valid_until) v
""",
    ),
    (
        "periods",
        f"""
INSERT INTO funding_periods (municipality, starts_on, ends_on, funded_limit, open_for_applications, status,
                             closed_at, created_at)
SELECT m.code, y.starts_on, y.ends_on,
       CASE WHEN m.code::int % 5 = 0 THEN 0 END, NOT y.closed,
       CASE WHEN y.closed THEN 'CLOSED' ELSE 'OPEN' END,
       CASE WHEN y.closed THEN {_at("y.ends_on + 1", "00:10")} END,
       {_at("y.starts_on - 10", "09:00")}
  FROM municipalities m CROSS JOIN g_years y
 WHERE m.code::int BETWEEN 1 AND :municipalities
""",
    ),
    (
        "nominals",
        """
INSERT INTO period_nominals (period_id, min_age, max_age, kopecks)
SELECT p.id, b.min_age, b.max_age, b.kopecks
  FROM funding_periods p CROSS JOIN (VALUES (5, 13, 2500000), (14, 17, 3500000)) b(min_age, max_age, kopecks)
 WHERE NOT EXISTS (SELECT 1 FROM period_nominals n WHERE n.period_id = p.id)
""",
    ),
    (
        "eligible",
        """
CREATE TEMP TABLE g_fund ON COMMIT DROP AS
SELECT p.id AS period_id, c.id AS certificate_id, c.municipality, p.starts_on, p.ends_on, y.y,
       greatest(p.starts_on, c.issued_on) AS from_day,
       CASE WHEN extract(year FROM age(greatest(p.starts_on, c.issued_on), ch.birth_date)) <= 13 THEN 2500000
            ELSE 3500000 END AS amount,
       row_number() OVER (PARTITION BY p.id ORDER BY c.issued_on, c.id) AS rank,
       count(*) OVER (PARTITION BY p.id) AS eligible,
       p.funded_limit IS NOT NULL AS limited
  FROM funding_periods p
  JOIN g_years y ON y.starts_on = p.starts_on
  JOIN certificates c ON c.municipality = p.municipality
  JOIN children ch ON ch.id = c.child_id
 WHERE c.issued_on <= p.ends_on AND c.valid_until >= p.starts_on AND c.issued_on <= CAST(:today AS date)
   AND c.number LIKE '77%'
""",
    ),
    (
        "limits",
        """
UPDATE funding_periods p SET funded_limit = l.lim
  FROM (SELECT period_id, floor(max(eligible) * 0.9)::int AS lim FROM g_fund WHERE limited GROUP BY 1) l
 WHERE p.id = l.period_id
""",
    ),
    (
        "fundings",
        f"""
CREATE TEMP TABLE g_fundings ON COMMIT DROP AS
SELECT f.*, fl.lim,
       CASE WHEN NOT f.limited OR f.rank <= fl.lim THEN {_at("f.from_day", "10:00")}
            WHEN f.rank <= fl.lim * 1.03 AND make_date(extract(year FROM f.starts_on)::int + 1, 1, 15)
                 BETWEEN f.from_day AND CAST(:today AS date)
                 THEN {_at("make_date(extract(year FROM f.starts_on)::int + 1, 1, 15)", "10:00")}
       END AS funded_at
  FROM g_fund f LEFT JOIN (SELECT id, funded_limit AS lim FROM funding_periods) fl ON fl.id = f.period_id
""",
    ),
    (
        "period fundings",
        f"""
INSERT INTO period_fundings (period_id, certificate_id, status, amount, funded_at, created_at)
SELECT period_id, certificate_id, CASE WHEN funded_at IS NULL THEN 'QUEUED' ELSE 'FUNDED' END, amount, funded_at,
       {_at("from_day", "10:00")}
  FROM g_fundings ORDER BY period_id, rank
""",
    ),
    (
        "credits",
        """
INSERT INTO ledger_entries (kind, certificate_id, period_id, amount, debit_account, credit_account, description,
                            actor, created_at)
SELECT 'CREDIT', certificate_id, period_id, amount, 'available', 'budget',
       'Зачисление номинала сертификата за период', 'generator', funded_at
  FROM g_fundings WHERE funded_at IS NOT NULL AND amount > 0
""",
    ),
    (
        "group choice",
        """
CREATE TEMP TABLE g_groups ON COMMIT DROP AS
SELECT pr.municipality, g.starts_on, array_agg(g.id ORDER BY g.id) AS ids, count(*) AS n
  FROM groups g JOIN programs pr ON pr.id = g.program_id JOIN providers pv ON pv.id = pr.provider_id
 WHERE pv.inn LIKE '9%'
 GROUP BY 1, 2
""",
    ),
    (
        "contracts",
        """
CREATE TEMP TABLE g_enr ON COMMIT DROP AS
WITH chosen AS (
    SELECT f.*, k.j, k.k,
           gg.ids[1 + floor(random() * gg.n + k.j * 0)::int] AS group_id,
           random() AS r_status, random() AS r_join, random() AS r_end, random() AS r_created
      FROM g_fundings f
      CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.1 + f.rank * 0 THEN 2 ELSE 1 END AS k) kk
      CROSS JOIN LATERAL (SELECT j, kk.k FROM generate_series(1, kk.k) j) k
      JOIN g_groups gg ON gg.municipality = f.municipality AND gg.starts_on = f.starts_on
     WHERE f.funded_at IS NOT NULL AND random() < :enrollment_rate
), shaped AS (
    SELECT c.*, gr.price AS group_price, pr.funding_kind, pr.provider_id,
           greatest(date_trunc('month', c.from_day)::date,
                    (c.starts_on + make_interval(months => CASE WHEN c.r_join < 0.2 THEN floor(c.r_join * 25)::int
                                                               ELSE 0 END))::date) AS first_month,
           make_date(extract(year FROM c.starts_on)::int + 1, 5, 1) AS last_month
      FROM chosen c JOIN groups gr ON gr.id = c.group_id JOIN programs pr ON pr.id = gr.program_id
)
SELECT DISTINCT ON (s.certificate_id, s.group_id) s.*,
       ((extract(year FROM s.last_month) - extract(year FROM s.first_month)) * 12
         + extract(month FROM s.last_month) - extract(month FROM s.first_month) + 1)::int AS months,
       ch.id AS child_id, ch.guardian_id
  FROM shaped s JOIN certificates c ON c.id = s.certificate_id JOIN children ch ON ch.id = c.child_id
 WHERE s.first_month <= s.last_month
   AND s.first_month <= date_trunc('month', CAST(:today AS date))::date
 ORDER BY s.certificate_id, s.group_id, s.j
""",
    ),
    (
        "contract terms",
        f"""
CREATE TEMP TABLE g_contracts ON COMMIT DROP AS
SELECT e.*, t.price,
       CASE WHEN e.funding_kind = 'CERTIFICATE' THEN least(t.price, e.amount / e.k) ELSE 0 END AS from_certificate,
       st.status,
       {_at("greatest(e.from_day, e.first_month - 7 + floor(e.r_created * 5)::int)", "12:00")} AS created_at,
       st.term_index
  FROM g_enr e
 CROSS JOIN LATERAL (SELECT (2 * e.group_price * e.months + 9) / 18 AS price) t
 CROSS JOIN LATERAL (
    SELECT CASE
             WHEN e.y < :years - 1 THEN
                  CASE WHEN e.r_status < 0.80 THEN 'COMPLETED' WHEN e.r_status < 0.95 THEN 'TERMINATED'
                       WHEN e.r_status < 0.98 THEN 'REFUSED' ELSE 'EXPIRED' END
             ELSE CASE WHEN e.r_status < 0.85 THEN 'ACTIVE' WHEN e.r_status < 0.93 THEN 'TERMINATED'
                       WHEN e.r_status < 0.97 THEN 'REFUSED' ELSE 'REQUESTED' END
           END AS status,
           floor(e.r_end * e.months)::int AS term_index
 ) st
""",
    ),
    (
        "terminations in the past only",
        """
UPDATE g_contracts SET status = 'ACTIVE'
 WHERE status = 'TERMINATED'
   AND (first_month + make_interval(months => term_index))::date >= date_trunc('month', CAST(:today AS date))::date
""",
    ),
    (
        "requested recently",
        f"""
UPDATE g_contracts SET created_at = {_at("CAST(:today AS date) - 1", "09:00")}
 WHERE status = 'REQUESTED'
""",
    ),
    (
        "enrollment rows",
        f"""
CREATE TEMP TABLE g_ids ON COMMIT DROP AS
WITH inserted AS (
    INSERT INTO enrollments (certificate_id, child_id, group_id, period_id, guardian_id, status, price,
                             from_certificate, from_family, first_month, months, reserved, charged, idempotency_key,
                             request_hash, decided_at, ended_at, created_at)
    SELECT c.certificate_id, c.child_id, c.group_id, c.period_id, c.guardian_id, c.status, c.price,
           c.from_certificate, c.price - c.from_certificate, c.first_month, c.months, 0, 0,
           'gen-' || c.certificate_id || '-' || c.group_id, 'generated',
           CASE WHEN c.status IN ('ACTIVE', 'COMPLETED', 'TERMINATED', 'REFUSED') THEN c.created_at + interval '1 day' END,
           CASE c.status
                WHEN 'COMPLETED' THEN {_at("c.last_month + 45", "03:00")}
                WHEN 'TERMINATED' THEN {_at("(c.first_month + make_interval(months => c.term_index))::date + 10", "15:00")}
                WHEN 'REFUSED' THEN c.created_at + interval '1 day'
                WHEN 'EXPIRED' THEN c.created_at + interval '5 days'
           END,
           c.created_at
      FROM g_contracts c
    RETURNING id, certificate_id, group_id
)
SELECT i.id, c.* FROM inserted i JOIN g_contracts c USING (certificate_id, group_id)
""",
    ),
    (
        "reserves",
        """
INSERT INTO ledger_entries (kind, certificate_id, period_id, enrollment_id, amount, debit_account, credit_account,
                            description, idempotency_key, actor, created_at)
SELECT 'RESERVE', certificate_id, period_id, id, from_certificate, 'reserved', 'available',
       'Резерв по заявке', 'gen-' || certificate_id || '-' || group_id, 'generator', created_at
  FROM g_ids WHERE from_certificate > 0
""",
    ),
    (
        "monthly reports",
        """
CREATE TEMP TABLE g_months ON COMMIT DROP AS
SELECT c.id AS enrollment_id, c.certificate_id, c.period_id, c.provider_id, m.i,
       (c.first_month + make_interval(months => m.i))::date AS month,
       c.from_certificate / c.months + CASE WHEN m.i = 0 THEN c.from_certificate % c.months ELSE 0 END AS share,
       CASE WHEN q.r < 0.6 THEN 100 WHEN q.r < 0.95 THEN 50 + floor(q.r2 * 50)::int ELSE 0 END AS completeness,
       least((c.first_month + make_interval(months => m.i))::date + 22 + floor(q.r3 * 16)::int,
             CAST(:today AS date) - 1) AS reported_on
  FROM g_ids c
 CROSS JOIN LATERAL generate_series(0, c.months - 1) m(i)
 CROSS JOIN LATERAL (SELECT random() + m.i * 0 AS r, random() + m.i * 0 AS r2, random() + m.i * 0 AS r3) q
 WHERE c.status IN ('ACTIVE', 'COMPLETED', 'TERMINATED')
   AND (c.first_month + make_interval(months => m.i))::date < date_trunc('month', CAST(:today AS date))::date
   AND (c.status <> 'TERMINATED' OR m.i < c.term_index)
""",
    ),
    (
        "reports",
        f"""
INSERT INTO provision_reports (enrollment_id, month, completeness, share, charged, released, provider_id,
                               reported_by, created_at)
SELECT enrollment_id, month, completeness, share, (2 * share * completeness + 100) / 200,
       share - (2 * share * completeness + 100) / 200, provider_id, 'generator', {_at("reported_on", "18:00")}
  FROM g_months
""",
    ),
    (
        "charges",
        f"""
INSERT INTO ledger_entries (kind, certificate_id, period_id, enrollment_id, month, completeness, amount,
                            debit_account, credit_account, description, actor, created_at)
SELECT 'CHARGE', certificate_id, period_id, enrollment_id, month, completeness,
       (2 * share * completeness + 100) / 200, 'spent', 'reserved', 'Оплата услуги за месяц', 'generator',
       {_at("reported_on", "18:00")}
  FROM g_months WHERE (2 * share * completeness + 100) / 200 > 0
UNION ALL
SELECT 'RELEASE', certificate_id, period_id, enrollment_id, month, completeness,
       share - (2 * share * completeness + 100) / 200, 'available', 'reserved',
       'Возврат неоказанной части услуги', 'generator', {_at("reported_on", "18:00")}
  FROM g_months WHERE share - (2 * share * completeness + 100) / 200 > 0
""",
    ),
    (
        "final releases",
        """
INSERT INTO ledger_entries (kind, certificate_id, period_id, enrollment_id, amount, debit_account, credit_account,
                            description, actor, created_at)
SELECT 'RELEASE', e.certificate_id, e.period_id, e.id, e.from_certificate - coalesce(m.used, 0), 'available',
       'reserved', 'Возврат резерва', 'generator', e.ended_at
  FROM enrollments e
  JOIN g_ids g ON g.id = e.id
  LEFT JOIN (SELECT enrollment_id, sum(share) AS used FROM g_months GROUP BY 1) m ON m.enrollment_id = e.id
 WHERE e.ended_at IS NOT NULL AND e.from_certificate - coalesce(m.used, 0) > 0
""",
    ),
    (
        "expiry at close",
        """
INSERT INTO ledger_entries (kind, certificate_id, period_id, amount, debit_account, credit_account, description,
                            actor, created_at)
SELECT 'EXPIRE', s.certificate_id, s.period_id, s.left_over, 'expired', 'available',
       'Неиспользованный остаток сгорел при закрытии периода', 'generator', p.closed_at
  FROM (SELECT l.certificate_id, l.period_id,
               sum(CASE l.kind WHEN 'CREDIT' THEN l.amount WHEN 'CHARGE' THEN -l.amount ELSE 0 END) AS left_over
          FROM ledger_entries l
         WHERE l.actor = 'generator'
         GROUP BY 1, 2) s
  JOIN funding_periods p ON p.id = s.period_id
 WHERE p.status = 'CLOSED' AND s.left_over > 0
""",
    ),
    (
        "balances",
        """
INSERT INTO balances (certificate_id, period_id, credited, reserved, spent, expired)
SELECT certificate_id, period_id,
       coalesce(sum(amount) FILTER (WHERE kind = 'CREDIT'), 0),
       coalesce(sum(amount) FILTER (WHERE kind = 'RESERVE'), 0)
         - coalesce(sum(amount) FILTER (WHERE kind IN ('RELEASE', 'CHARGE')), 0),
       coalesce(sum(amount) FILTER (WHERE kind = 'CHARGE'), 0),
       coalesce(sum(amount) FILTER (WHERE kind = 'EXPIRE'), 0)
  FROM ledger_entries WHERE actor = 'generator'
 GROUP BY 1, 2
""",
    ),
    (
        "contract money",
        """
UPDATE enrollments e SET reserved = s.reserved, charged = s.charged
  FROM (SELECT enrollment_id,
               coalesce(sum(amount) FILTER (WHERE kind = 'RESERVE'), 0)
                 - coalesce(sum(amount) FILTER (WHERE kind IN ('RELEASE', 'CHARGE')), 0) AS reserved,
               coalesce(sum(amount) FILTER (WHERE kind = 'CHARGE'), 0) AS charged
          FROM ledger_entries WHERE actor = 'generator' AND enrollment_id IS NOT NULL GROUP BY 1) s
 WHERE e.id = s.enrollment_id
""",
    ),
    (
        "seats",
        """
UPDATE groups g SET seats_taken = s.n, capacity = greatest(g.capacity, s.n)
  FROM (SELECT group_id, count(*) AS n FROM enrollments WHERE status IN ('REQUESTED', 'ACTIVE', 'AWAITING_CONSENT') GROUP BY 1) s
 WHERE g.id = s.group_id
""",
    ),
]


async def generate(
    conn: AsyncConnection, region: Region, today: date, fast: bool = False, progress: bool = False
) -> dict[str, float]:
    """Write the region in the connection's transaction; returns seconds per step.

    ``fast`` skips foreign-key triggers while loading (``session_replication_role = replica``: needs
    a superuser; the rows are consistent by construction) and gives the session more memory.
    """
    import time

    current_start_year = today.year if today.month >= 9 else today.year - 1
    params: dict[str, object] = {
        "municipalities": region.municipalities,
        "certificates": region.certificates,
        "providers": region.providers,
        "programs_per_provider": region.programs_per_provider,
        "years": region.years,
        "enrollment_rate": region.enrollment_rate,
        "current_start_year": current_start_year,
        "today": today,
    }
    await conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    if fast:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text("SET LOCAL work_mem = '256MB'"))
    await conn.execute(text("SELECT setseed(:s)"), {"s": region.seed})
    timings: dict[str, float] = {}
    for name, sql in STEPS:
        started = time.perf_counter()
        used = {k: v for k, v in params.items() if f":{k}" in sql}
        await conn.execute(text(sql), used)
        timings[name] = time.perf_counter() - started
        if progress:
            print(f"  {name:<32} {timings[name]:7.1f} s", flush=True)
    return timings
