"""Tables (SQLAlchemy Core). The database defends the invariants too: checks, uniques, FKs."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID

# What a certificate can still spend in a period: one expression, stored as the generated column
# ``balances.available`` (SQL reads the column; nothing writes the expression again).
AVAILABLE = "credited - reserved - spent - expired - carried"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[int]:
    return Column("id", BigInteger, primary_key=True, autoincrement=True)


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


municipalities = Table(
    "municipalities",
    metadata,
    Column("code", String(2), primary_key=True),
    Column("name", Text, nullable=False),
    Column("next_certificate_serial", Integer, nullable=False, server_default="1"),
    Column("time_zone", Text),  # 0050: IANA zone of its days (NULL: the setting PDO_TIME_ZONE)
    CheckConstraint("code ~ '^[0-9]{2}$'", name="code_format"),
)

guardians = Table(
    "guardians",
    metadata,
    _id(),
    Column("subject", Text, nullable=False, unique=True),
    _created(),
)

children = Table(
    "children",
    metadata,
    _id(),
    Column("guardian_id", BigInteger, ForeignKey("guardians.id"), nullable=False, index=True),
    Column("full_name", Text, nullable=False),
    Column("name_key", Text, nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("snils_hash", Text),  # HMAC-SHA256 of the 11 digits (pdo_graph.crypto.KeyRing.digest)
    Column("snils_sealed", Text),  # "<key id>:<Fernet token>" of the 11 digits; never the digits in clear
    Column("municipality", String(2), ForeignKey("municipalities.code"), nullable=False),
    _created(),
    UniqueConstraint("name_key", "birth_date", name="uq_children_name_birth"),
    CheckConstraint("(snils_hash IS NULL) = (snils_sealed IS NULL)", name="snils_pair"),
    Index("uq_children_snils_hash", "snils_hash", unique=True, postgresql_where=text("snils_hash IS NOT NULL")),
)

certificate_applications = Table(
    "certificate_applications",
    metadata,
    _id(),
    Column("child_id", BigInteger, ForeignKey("children.id"), nullable=False),
    Column("guardian_id", BigInteger, ForeignKey("guardians.id"), nullable=False, index=True),
    Column("municipality", String(2), ForeignKey("municipalities.code"), nullable=False),
    Column("status", String(16), nullable=False, server_default="SUBMITTED"),
    Column("decided_by", Text),
    Column("decided_at", DateTime(timezone=True)),
    _created(),
    Column("rejection_reason", Text),  # 0050
    CheckConstraint("status IN ('SUBMITTED','ISSUED','REJECTED')", name="status"),
    # 0050: one open (not rejected) application per child; a rejected child may apply again
    Index("uq_certificate_applications_open", "child_id", unique=True, postgresql_where=text("status <> 'REJECTED'")),
    Index("ix_certificate_applications_queue", "municipality", "status", "created_at", "id"),
)

certificates = Table(
    "certificates",
    metadata,
    _id(),
    Column("uuid", UUID(as_uuid=True), nullable=False, unique=True, server_default=text("gen_random_uuid()")),
    Column("number", String(16), nullable=False, unique=True),
    Column("child_id", BigInteger, ForeignKey("children.id"), nullable=False, unique=True),
    Column("municipality", String(2), ForeignKey("municipalities.code"), nullable=False, index=True),
    Column("status", String(16), nullable=False, server_default="ACTIVE"),
    Column("issued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("issued_on", Date, nullable=False),
    Column("valid_until", Date, nullable=False),
    Column("status_reason", Text),
    CheckConstraint("status IN ('ACTIVE','FROZEN','EXPIRED','REVOKED')", name="status"),
)

funding_periods = Table(
    "funding_periods",
    metadata,
    _id(),
    Column("municipality", String(2), ForeignKey("municipalities.code"), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("proration", String(20), nullable=False, server_default="FULL"),
    Column("funded_limit", Integer),
    Column("open_for_applications", Boolean, nullable=False, server_default="true"),
    Column("status", String(8), nullable=False, server_default="OPEN"),
    Column("carry_over", Boolean, nullable=False, server_default="false"),
    Column("cap_at_normative", Boolean, nullable=False, server_default="false"),
    Column("closed_at", DateTime(timezone=True)),
    _created(),
    CheckConstraint("ends_on >= starts_on", name="dates"),
    CheckConstraint("proration IN ('FULL','PRORATED_MONTHLY')", name="proration"),
    CheckConstraint("status IN ('OPEN','CLOSED')", name="status"),
    CheckConstraint("funded_limit IS NULL OR funded_limit >= 0", name="limit"),
)

period_nominals = Table(
    "period_nominals",
    metadata,
    Column("period_id", BigInteger, ForeignKey("funding_periods.id"), primary_key=True),
    Column("min_age", SmallInteger, primary_key=True),
    Column("max_age", SmallInteger, nullable=False),
    Column("kopecks", BigInteger, nullable=False),
    CheckConstraint("min_age >= 0 AND max_age <= 18 AND min_age <= max_age", name="ages"),
    CheckConstraint("kopecks >= 0", name="kopecks"),
)

period_fundings = Table(
    "period_fundings",
    metadata,
    Column("period_id", BigInteger, ForeignKey("funding_periods.id"), primary_key=True),
    Column("certificate_id", BigInteger, ForeignKey("certificates.id"), primary_key=True),
    Column("queue_no", BigInteger, nullable=False, server_default=text("nextval('funding_queue_seq')")),
    Column("status", String(8), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("funded_at", DateTime(timezone=True)),
    _created(),
    CheckConstraint("status IN ('FUNDED','QUEUED')", name="status"),
    Index("ix_period_fundings_queue", "period_id", "status", "queue_no"),
)

balances = Table(
    "balances",
    metadata,
    Column("certificate_id", BigInteger, ForeignKey("certificates.id"), primary_key=True),
    Column("period_id", BigInteger, ForeignKey("funding_periods.id"), primary_key=True),
    Column("credited", BigInteger, nullable=False, server_default="0"),
    Column("reserved", BigInteger, nullable=False, server_default="0"),
    Column("spent", BigInteger, nullable=False, server_default="0"),
    Column("expired", BigInteger, nullable=False, server_default="0"),
    Column("carried", BigInteger, nullable=False, server_default="0"),  # 0050: carried out (CARRY)
    # The one definition of what a certificate can still spend in a period (migration 0005).
    Column("available", BigInteger, Computed(AVAILABLE, persisted=True), nullable=False),
    CheckConstraint(
        "credited >= 0 AND reserved >= 0 AND spent >= 0 AND expired >= 0 AND carried >= 0", name="non_negative"
    ),
    CheckConstraint("available >= 0", name="available_non_negative"),
    Index("ix_balances_period", "period_id"),  # 0100: the open periods' balances (ledger check)
)

LEDGER_KINDS = ("CREDIT", "RESERVE", "RELEASE", "CHARGE", "EXPIRE", "CARRY")

ledger_entries = Table(
    "ledger_entries",
    metadata,
    _id(),
    Column("kind", String(8), nullable=False),
    Column("certificate_id", BigInteger, ForeignKey("certificates.id"), nullable=False),
    Column("period_id", BigInteger, ForeignKey("funding_periods.id"), nullable=False),
    Column("enrollment_id", BigInteger, ForeignKey("enrollments.id")),
    Column("month", Date),
    Column("completeness", SmallInteger),
    Column("amount", BigInteger, nullable=False),
    Column("debit_account", String(16), nullable=False),
    Column("credit_account", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("idempotency_key", Text),
    Column("actor", Text, nullable=False),
    _created(),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(
        "(kind = 'CREDIT' AND debit_account = 'available' AND credit_account = 'budget')"
        " OR (kind = 'RESERVE' AND debit_account = 'reserved' AND credit_account = 'available')"
        " OR (kind = 'RELEASE' AND debit_account = 'available' AND credit_account = 'reserved')"
        " OR (kind = 'CHARGE' AND debit_account = 'spent' AND credit_account = 'reserved')"
        " OR (kind = 'EXPIRE' AND debit_account = 'expired' AND credit_account = 'available')"
        " OR (kind = 'CARRY' AND debit_account = 'carried' AND credit_account = 'available')"
        " OR (kind = 'CARRY' AND debit_account = 'available' AND credit_account = 'carry')",
        name="accounts",
    ),
    Index("ix_ledger_entries_certificate", "certificate_id", "id"),
    Index("ix_ledger_entries_enrollment", "enrollment_id"),
    Index("ix_ledger_entries_charges", "month", "period_id", postgresql_where=text("kind = 'CHARGE'")),
    # 0100: a period's entries by period (its check at the close, the open periods'), a sealed period's
    # first and last ids in a probe, its count and sum from the index alone (ledger check --full)
    Index("ix_ledger_entries_period", "period_id", "id", postgresql_include=["amount"]),
)

# 0100: a closed period, checked once at its close and sealed (when the check found nothing wrong):
# what its entries, balances and enrollments summed to then. Triggers (migration 0100) refuse
# any change of a sealed period's entries or balances, and of a checkpoint.
ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("period_id", BigInteger, ForeignKey("funding_periods.id"), primary_key=True),
    Column("entries", BigInteger, nullable=False),
    Column("first_entry_id", BigInteger),  # none when the period has no entries
    Column("last_entry_id", BigInteger),
    Column("total", BigInteger, nullable=False),
    Column("amounts", JSONB, nullable=False),  # {kind: kopecks}
    Column("digest", Text, nullable=False),  # sum of a hash of every entry (order-free)
    Column("balance_rows", BigInteger, nullable=False),
    Column("credited", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("spent", BigInteger, nullable=False),
    Column("expired", BigInteger, nullable=False),
    Column("carried", BigInteger, nullable=False),
    Column("enrollment_reserved", BigInteger, nullable=False),
    Column("enrollment_charged", BigInteger, nullable=False),
    Column("statements", JSONB, nullable=False),  # {statement id: total} verified against the ledger
    Column("seconds", Float, nullable=False),
    Column("sealed_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

# 0050: money carried out of a closed period, waiting for the municipality's next period to open
carry_overs = Table(
    "carry_overs",
    metadata,
    _id(),
    Column("certificate_id", BigInteger, ForeignKey("certificates.id"), nullable=False),
    Column("from_period_id", BigInteger, ForeignKey("funding_periods.id"), nullable=False),
    Column("municipality", String(2), ForeignKey("municipalities.code"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("to_period_id", BigInteger, ForeignKey("funding_periods.id")),
    Column("credited_at", DateTime(timezone=True)),
    _created(),
    CheckConstraint("amount > 0", name="amount"),
    UniqueConstraint("certificate_id", "from_period_id", name="uq_carry_overs_certificate_id"),
    Index("ix_carry_overs_pending", "municipality", "id", postgresql_where=text("to_period_id IS NULL")),
)

# --- catalog ---------------------------------------------------------------------------------

providers = Table(
    "providers",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("inn", String(12), nullable=False, unique=True),
    Column("municipality", String(2), ForeignKey("municipalities.code"), nullable=False),
    Column("address", Text),
    _created(),
)

DIRECTIONS = (
    "TECHNICAL",
    "NATURAL_SCIENCE",
    "PHYSICAL_SPORTS",
    "ARTS",
    "TOURISM_LOCAL_HISTORY",
    "SOCIAL_HUMANITARIAN",
)

FUNDING_KINDS = ("CERTIFICATE", "MUNICIPAL", "PAID")

programs = Table(
    "programs",
    metadata,
    _id(),
    Column("provider_id", BigInteger, ForeignKey("providers.id"), nullable=False, index=True),
    Column("external_id", Text),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("direction", String(24), nullable=False),
    Column("min_age", SmallInteger, nullable=False),
    Column("max_age", SmallInteger, nullable=False),
    Column("hours", Integer),
    Column("form", Text, nullable=False, server_default="очная"),
    Column("municipality", String(2), ForeignKey("municipalities.code"), nullable=False),
    Column("address", Text),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("normative_cost", BigInteger),
    Column("certified", Boolean, nullable=False, server_default="false"),
    Column("archived", Boolean, nullable=False, server_default="false"),
    Column("rating_sum", Integer, nullable=False, server_default="0"),
    Column("rating_count", Integer, nullable=False, server_default="0"),
    Column("modified_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # 0041: how the program is paid for: CERTIFICATE (ПФ), MUNICIPAL (free), PAID (the family pays all)
    Column("funding_kind", Text, nullable=False, server_default="CERTIFICATE"),
    # 0060: suits children with disabilities (ОВЗ), as the provider says
    Column("for_disabilities", Boolean, nullable=False, server_default="false"),
    Column(
        "search",
        TSVECTOR,
        Computed(
            "setweight(to_tsvector('russian', coalesce(title, '')), 'A') || "
            "setweight(to_tsvector('russian', coalesce(description, '')), 'B')",
            persisted=True,
        ),
    ),
    _created(),
    CheckConstraint(f"direction IN ({', '.join(repr(d) for d in DIRECTIONS)})", name="direction"),
    CheckConstraint("min_age >= 0 AND max_age <= 18 AND min_age <= max_age", name="ages"),
    CheckConstraint("normative_cost IS NULL OR normative_cost >= 0", name="normative"),
    CheckConstraint(f"funding_kind IN ({', '.join(repr(k) for k in FUNDING_KINDS)})", name="funding_kind"),
    CheckConstraint("NOT certified OR funding_kind = 'CERTIFICATE'", name="certified_kind"),
    UniqueConstraint("provider_id", "external_id", name="uq_programs_provider_external"),
    Index("ix_programs_search", "search", postgresql_using="gin"),
    Index(
        "ix_programs_browse",
        "municipality",
        "direction",
        "id",
        postgresql_include=["min_age", "max_age", "certified", "rating_sum", "rating_count", "funding_kind"],
        postgresql_where=text("NOT archived"),
    ),
    Index(
        "ix_programs_location",
        "latitude",
        "longitude",
        postgresql_where=text("NOT archived AND latitude IS NOT NULL AND longitude IS NOT NULL"),
    ),
)

groups = Table(
    "groups",
    metadata,
    _id(),
    Column("program_id", BigInteger, ForeignKey("programs.id"), nullable=False, index=True),
    Column("external_id", Text),
    Column("name", Text, nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("schedule", Text),
    Column("capacity", Integer, nullable=False),
    Column("seats_taken", Integer, nullable=False, server_default="0"),
    Column("price", BigInteger, nullable=False),
    Column("enrollment_open", Boolean, nullable=False, server_default="true"),
    Column("archived", Boolean, nullable=False, server_default="false"),
    Column("modified_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("enrollment_opens_at", DateTime(timezone=True)),  # 0090: the fair opening minute
    Column("fair_window_minutes", Integer, nullable=False, server_default="10"),
    _created(),
    CheckConstraint("ends_on >= starts_on", name="dates"),
    CheckConstraint("capacity >= 1", name="capacity"),
    CheckConstraint("seats_taken >= 0 AND seats_taken <= capacity", name="seats"),
    CheckConstraint("price >= 0", name="price"),
    CheckConstraint("fair_window_minutes BETWEEN 0 AND 1440", name="fair_window"),
    UniqueConstraint("program_id", "external_id", name="uq_groups_program_external"),
    Index(
        "ix_groups_searchable",
        "program_id",
        "price",
        postgresql_include=["starts_on", "ends_on", "capacity", "seats_taken"],
        postgresql_where=text("NOT archived AND enrollment_open"),
    ),
)

# --- enrollment --------------------------------------------------------------------------------

ENROLLMENT_STATUSES = (
    "PENDING_DRAW",
    "REQUESTED",
    "ACTIVE",
    "REFUSED",
    "EXPIRED",
    "TERMINATED",
    "COMPLETED",
    "AWAITING_CONSENT",
)

enrollments = Table(
    "enrollments",
    metadata,
    _id(),
    Column("certificate_id", BigInteger, ForeignKey("certificates.id"), nullable=False, index=True),
    Column("child_id", BigInteger, ForeignKey("children.id"), nullable=False, index=True),
    Column("group_id", BigInteger, ForeignKey("groups.id"), nullable=False, index=True),
    Column("period_id", BigInteger, ForeignKey("funding_periods.id"), nullable=False),
    Column("guardian_id", BigInteger, ForeignKey("guardians.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("from_certificate", BigInteger, nullable=False),
    Column("from_family", BigInteger, nullable=False),
    Column("first_month", Date, nullable=False),
    Column("months", SmallInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("charged", BigInteger, nullable=False, server_default="0"),
    Column("idempotency_key", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("reason", Text),
    Column("decided_at", DateTime(timezone=True)),
    _created(),
    Column("ended_at", DateTime(timezone=True)),  # 0041: when it reached its final status
    # 0050: the contract this one prolongs (one prolongation each); ended only by its period's close
    Column("prolonged_from", BigInteger, ForeignKey("enrollments.id"), unique=True),
    Column("ended_by_period", Boolean, nullable=False, server_default="false"),
    # 0060: "<municipality>-<year>-<serial>", filled by a BEFORE INSERT trigger (contract_serial)
    Column("contract_number", Text, nullable=False, unique=True),
    CheckConstraint(f"status IN ({', '.join(repr(s) for s in ENROLLMENT_STATUSES)})", name="status"),
    CheckConstraint(
        "from_certificate >= 0 AND from_family >= 0 AND from_certificate + from_family = price", name="split"
    ),
    CheckConstraint("reserved >= 0 AND charged >= 0 AND reserved + charged <= from_certificate", name="money"),
    UniqueConstraint("guardian_id", "idempotency_key", name="uq_enrollments_idempotency"),
    Index(
        "uq_enrollments_live",
        "child_id",
        "group_id",
        unique=True,
        postgresql_where=text("status IN ('PENDING_DRAW','REQUESTED','ACTIVE','AWAITING_CONSENT')"),
    ),
    Index("ix_enrollments_pending_draw", "group_id", postgresql_where=text("status = 'PENDING_DRAW'")),
    Index("ix_enrollments_requested", "created_at", postgresql_where=text("status = 'REQUESTED'")),
)

# 0090: a group's fair opening: the committed seed and, once drawn, the entrants and their order
group_draws = Table(
    "group_draws",
    metadata,
    Column("group_id", BigInteger, ForeignKey("groups.id"), primary_key=True),
    Column("seed", Text, nullable=False),  # secret until drawn_at
    Column("seed_hash", Text, nullable=False),  # sha256(seed), published before the window opens
    Column("window_ends_at", DateTime(timezone=True), nullable=False),
    Column("drawn_at", DateTime(timezone=True)),
    Column("entrants", ARRAY(BigInteger)),  # the PENDING_DRAW application ids that took part
    Column("drawn_order", ARRAY(BigInteger)),
    Column("seats", Integer),  # how many of the drawn order won a seat
    _created(),
    Index("ix_group_draws_due", "window_ends_at", postgresql_where=text("drawn_at IS NULL")),
)

# 0090: the waitlist of full groups; an OFFERED entry holds a seat until offer_expires_at
WAITLIST_STATES = ("WAITING", "OFFERED", "ACCEPTED", "DECLINED", "LAPSED", "LEFT")
waitlist_entries = Table(
    "waitlist_entries",
    metadata,
    _id(),
    Column("group_id", BigInteger, ForeignKey("groups.id"), nullable=False),
    Column("certificate_id", BigInteger, ForeignKey("certificates.id"), nullable=False, index=True),
    Column("child_id", BigInteger, ForeignKey("children.id"), nullable=False),
    Column("guardian_id", BigInteger, ForeignKey("guardians.id"), nullable=False),
    Column("queue_no", BigInteger, nullable=False, server_default=text("nextval('waitlist_queue_seq')")),
    Column("state", String(10), nullable=False, server_default="WAITING"),
    Column("offered_at", DateTime(timezone=True)),
    Column("offer_expires_at", DateTime(timezone=True)),
    Column("enrollment_id", BigInteger, ForeignKey("enrollments.id")),
    Column("source", String(8), nullable=False, server_default="JOIN"),  # JOIN | DRAW (lost the draw)
    _created(),
    Column("ended_at", DateTime(timezone=True)),
    CheckConstraint(f"state IN ({', '.join(repr(s) for s in WAITLIST_STATES)})", name="state"),
    CheckConstraint("source IN ('JOIN','DRAW')", name="source"),
    CheckConstraint("(state = 'OFFERED') <= (offer_expires_at IS NOT NULL)", name="offer"),
    Index(
        "uq_waitlist_entries_live",
        "child_id",
        "group_id",
        unique=True,
        postgresql_where=text("state IN ('WAITING','OFFERED')"),
    ),
    Index("ix_waitlist_entries_queue", "group_id", "queue_no", postgresql_where=text("state = 'WAITING'")),
    Index("ix_waitlist_entries_offers", "offer_expires_at", postgresql_where=text("state = 'OFFERED'")),
)

provision_reports = Table(
    "provision_reports",
    metadata,
    Column("enrollment_id", BigInteger, ForeignKey("enrollments.id"), primary_key=True),
    Column("month", Date, primary_key=True),
    Column("completeness", SmallInteger, nullable=False),
    Column("share", BigInteger, nullable=False),
    Column("charged", BigInteger, nullable=False),
    Column("released", BigInteger, nullable=False),
    Column("provider_id", BigInteger, ForeignKey("providers.id"), nullable=False),
    Column("reported_by", Text, nullable=False),
    _created(),
    CheckConstraint("completeness BETWEEN 0 AND 100", name="completeness"),
    Index("ix_provision_reports_provider_month", "provider_id", "month"),
)

# 0050: monthly settlement statements (акт) per payer municipality x provider x month; DRAFT rows
# are created with the month's first charge, ISSUED ones are frozen and numbered
settlement_statements = Table(
    "settlement_statements",
    metadata,
    _id(),
    Column("payer", String(2), ForeignKey("municipalities.code"), nullable=False),
    Column("provider_id", BigInteger, ForeignKey("providers.id"), nullable=False),
    Column("month", Date, nullable=False),
    Column("status", String(8), nullable=False, server_default="DRAFT"),
    Column("number", Text, unique=True),
    Column("total", BigInteger),
    Column("lines", Integer),
    Column("issued_at", DateTime(timezone=True)),
    Column("issued_by", Text),
    _created(),
    CheckConstraint("status IN ('DRAFT','ISSUED')", name="status"),
    CheckConstraint(
        "(status = 'ISSUED') = (number IS NOT NULL AND total IS NOT NULL AND issued_at IS NOT NULL)", name="issued"
    ),
    UniqueConstraint("payer", "provider_id", "month", name="uq_settlement_statements_payer"),
    Index("ix_settlement_statements_provider", "provider_id", "month"),
)

settlement_serials = Table(
    "settlement_serials",
    metadata,
    Column("payer", String(2), ForeignKey("municipalities.code"), primary_key=True),
    Column("year", SmallInteger, primary_key=True),
    Column("last", Integer, nullable=False),
)

reviews = Table(
    "reviews",
    metadata,
    _id(),
    Column("enrollment_id", BigInteger, ForeignKey("enrollments.id"), nullable=False, unique=True),
    Column("program_id", BigInteger, ForeignKey("programs.id"), nullable=False, index=True),
    Column("guardian_id", BigInteger, ForeignKey("guardians.id"), nullable=False),
    Column("rating", SmallInteger, nullable=False),
    Column("text", Text),
    _created(),
    CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
)

# 0040: a person's in-app notifications (pdo_graph.domain.notifications writes them; a trigger announces
# each new one of a guardian on the channel of live updates, see migration 0040); 0060: a provider may
# be the recipient, machine-readable details, a key that makes a periodic notice once only
notifications = Table(
    "notifications",
    metadata,
    _id(),
    Column("guardian_id", BigInteger, ForeignKey("guardians.id")),
    Column("kind", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    _created(),
    Column("read_at", DateTime(timezone=True)),
    Column("provider_id", BigInteger, ForeignKey("providers.id")),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("dedupe_key", Text),
    CheckConstraint("kind ~ '^[A-Z][A-Z_]{0,39}$'", name="kind"),
    CheckConstraint("(guardian_id IS NULL) <> (provider_id IS NULL)", name="recipient"),
    Index("ix_notifications_guardian", "guardian_id", "id"),
    Index("ix_notifications_provider", "provider_id", "id", postgresql_where=text("provider_id IS NOT NULL")),
    Index("uq_notifications_dedupe_key", "dedupe_key", unique=True, postgresql_where=text("dedupe_key IS NOT NULL")),
)

# 0060: each notification once, for delivery by an adapter (e-mail, SMS, push); see domain/outbox.py
notification_outbox = Table(
    "notification_outbox",
    metadata,
    _id(),
    Column("notification_id", BigInteger, ForeignKey("notifications.id"), nullable=False, unique=True),
    Column("attempts", SmallInteger, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True)),
    Column("last_error", Text),
    _created(),
    Index("ix_notification_outbox_pending", "next_attempt_at", "id", postgresql_where=text("delivered_at IS NULL")),
)

# --- integrations ------------------------------------------------------------------------------

catalog_sources = Table(
    "catalog_sources",
    metadata,
    _id(),
    Column("provider_id", BigInteger, ForeignKey("providers.id"), nullable=False, index=True),
    Column("feed_url", Text, nullable=False),
    Column("format", String(20), nullable=False),
    Column("issuer", Text, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("client_auth", String(24), nullable=False),
    Column("secret_encrypted", Text),
    Column("audience", Text),
    Column("scope", Text),
    Column("interval_minutes", Integer, nullable=False, server_default="60"),
    Column("default_direction", String(24)),
    Column("paused", Boolean, nullable=False, server_default="false"),
    Column("cursor", Text),
    Column("next_run_at", DateTime(timezone=True)),
    _created(),
    # 0003: OpenActive activity -> direction map, the position of the last committed page, a full
    # re-harvest in progress, when the end of the feed was last reached
    Column("activity_directions", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("position_modified", BigInteger),
    Column("position_id", Text),
    Column("harvest_run_id", BigInteger),
    Column("caught_up_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("provider_id", "feed_url", name="uq_catalog_sources_provider_feed"),
    CheckConstraint("format IN ('PDO_CATALOG_V1', 'OPENACTIVE_RPDE')", name="format"),
    CheckConstraint("client_auth IN ('CLIENT_SECRET_BASIC', 'PRIVATE_KEY_JWT')", name="client_auth"),
    CheckConstraint("interval_minutes BETWEEN 1 AND 10080", name="interval"),
    CheckConstraint(
        f"default_direction IS NULL OR default_direction IN ({', '.join(repr(d) for d in DIRECTIONS)})",
        name="direction",
    ),
)

catalog_sync_runs = Table(
    "catalog_sync_runs",
    metadata,
    _id(),
    Column("source_id", BigInteger, ForeignKey("catalog_sources.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(12), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Column("pages", Integer, nullable=False, server_default="0"),
    Column("created", Integer, nullable=False, server_default="0"),
    Column("updated", Integer, nullable=False, server_default="0"),
    Column("archived", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("failures", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("message", Text),
    # 0003
    Column("unchanged", Integer, nullable=False, server_default="0"),
    Column("skipped", Integer, nullable=False, server_default="0"),
    Column("message_key", Text),
    Column("message_params", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("events", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("trigger", String(12), nullable=False, server_default="MANUAL"),
    Column("full_harvest", Boolean, nullable=False, server_default="false"),
    CheckConstraint("status IN ('RUNNING', 'SUCCEEDED', 'PARTIAL', 'FAILED')", name="status"),
    Index("ix_catalog_sync_runs_source", "source_id", "id"),
)

# 0003: per source and feed item, the last applied `modified` (older items are ignored), whether it
# is deleted, and the full re-harvest that last saw it (what a harvest no longer sees is archived)
catalog_feed_items = Table(
    "catalog_feed_items",
    metadata,
    Column("source_id", BigInteger, ForeignKey("catalog_sources.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("item_id", Text, primary_key=True),
    Column("modified", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, server_default="false"),
    Column("harvest_run_id", BigInteger),
)

# 0004: every read of a child's personal data by someone other than its guardian. Append-only: a
# trigger (migration 0004) refuses UPDATE and DELETE for every role.
audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor_role", String(16), nullable=False),
    Column("actor_subject", Text, nullable=False),
    Column("child_id", BigInteger, ForeignKey("children.id"), nullable=False),
    Column("municipality", String(2), ForeignKey("municipalities.code"), nullable=False),
    Column("fields", ARRAY(Text), nullable=False),
    Column("request_id", Text),
    CheckConstraint("actor_role IN ('GUARDIAN', 'PROVIDER', 'OPERATOR', 'ANALYST')", name="actor_role"),
    CheckConstraint("cardinality(fields) > 0", name="fields"),
    Index("ix_audit_log_municipality", "municipality", "id"),
    Index("ix_audit_log_child", "child_id", "id"),
)

# 0041: the analysts' aggregates (pdo_graph/domain/analytics/refresh.py writes them, one generation
# per refresh; pdo_graph/reads/analytics.py reads the live one). No row names a child.
analytics_state = Table(
    "analytics_state",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("generation", BigInteger, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("as_of_month", Date, nullable=False),
    Column("first_month", Date),
    Column("refresh_ms", Integer, nullable=False),
    CheckConstraint("id = 1", name="single"),
)

# the figures of a cell (migration 0041 CELL_COLUMNS: keep the two lists equal)
ANALYTICS_COLUMNS = (
    "certificates",
    "funded",
    "queued",
    "enrolled",
    "enrollments",
    "enrollments_children",
    "credited",
    "credited_children",
    "reserved",
    "reserved_children",
    "spent",
    "spent_children",
    "expired",
    "expired_children",
    "completeness_sum",
    "completeness_reports",
    "completeness_children",
)

# pseudonyms of the children behind a small cell of a flow (migration 0041 ID_COLUMNS)
ANALYTICS_ID_COLUMNS = ("enrollments_ids", "credited_ids", "spent_ids", "expired_ids", "completeness_ids")

analytics_cells = Table(
    "analytics_cells",
    metadata,
    Column("generation", BigInteger, nullable=False),
    Column("gset", SmallInteger, nullable=False),
    Column("month", Date, nullable=False),
    Column("municipality", String(2), nullable=False),
    Column("age", SmallInteger),
    Column("direction", String(24)),
    Column("provider_id", BigInteger),
    Column("funding_kind", String(12)),
    *[Column(name, BigInteger) for name in ANALYTICS_COLUMNS],
    *[Column(name, ARRAY(BigInteger)) for name in ANALYTICS_ID_COLUMNS],
    Index("ix_analytics_cells_lookup", "generation", "gset", "month", "municipality"),
)
