"""personal data: matching keys recomputed, СНИЛС hashed and sealed (never in clear), audit log of reads

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 12:00:00

- children.name_key is recomputed with the Unicode-aware key (pdo_graph.domain.matching): look-alike
  letters, invisible characters, compatibility forms, combining marks, dashes and spaces folded.
- children.snils (11 digits in clear) becomes snils_hash (HMAC-SHA256 keyed by the first key of
  PDO_PERSONAL_DATA_KEYS) and snils_sealed ("<key id>:<Fernet token>" under the newest key); the
  clear column is dropped. The keys come from the settings handed to the migration (the same
  PDO_* environment the app reads; in dev auth mode the generated $PDO_DATA_DIR/personal-data-keys).
  Rows whose recomputed key or hash collides with an earlier row's (duplicates the old key let
  through) keep "#<child id>" appended, so the constraint holds and the later row stays findable
  (`WHERE name_key LIKE '%#%' OR snils_hash LIKE '%#%'`); their ids (no personal data) are logged.
- audit_log: reads of a child's personal data by others than its guardian; a trigger refuses
  UPDATE and DELETE for every role (TRUNCATE stays possible for the owner, e.g. in tests).
"""

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
BATCH = 2000


def _keys():
    from pdo_graph.config import Settings
    from pdo_graph.crypto import personal_data_keys

    settings = op.get_context().config.attributes.get("settings") or Settings.from_env()
    return personal_data_keys(settings)


def _convert_children(conn: sa.Connection) -> None:
    from pdo_graph.domain.people import name_key

    rows = conn.execute(sa.text("SELECT id, full_name, birth_date, snils FROM children ORDER BY id")).all()
    if not rows:
        return
    keys = _keys() if any(r.snils for r in rows) else None
    seen_names: set[tuple[str, object]] = set()
    seen_snils: set[str] = set()
    collided: list[int] = []
    updates: list[tuple[int, str, str | None, str | None]] = []
    for r in rows:
        key = name_key(r.full_name)
        if (key, r.birth_date) in seen_names:
            key = f"{key}#{r.id}"
            collided.append(r.id)
        seen_names.add((key, r.birth_date))
        digest = sealed = None
        if r.snils:
            assert keys is not None
            digest, sealed = keys.digest(r.snils), keys.seal(r.snils)
            if digest in seen_snils:
                digest = f"{digest}#{r.id}"
                collided.append(r.id)
            seen_snils.add(digest)
        updates.append((r.id, key, digest, sealed))
    for start in range(0, len(updates), BATCH):
        chunk = updates[start : start + BATCH]
        conn.execute(
            sa.text(
                "UPDATE children c SET name_key = t.k, snils_hash = t.h, snils_sealed = t.s"
                " FROM unnest(CAST(:ids AS bigint[]), CAST(:k AS text[]), CAST(:h AS text[]), CAST(:s AS text[]))"
                " AS t(id, k, h, s) WHERE c.id = t.id"
            ),
            {
                "ids": [u[0] for u in chunk],
                "k": [u[1] for u in chunk],
                "h": [u[2] for u in chunk],
                "s": [u[3] for u in chunk],
            },
        )
    if collided:
        log.warning(
            "0004: %d child row(s) match an earlier child under the new key and were kept apart "
            "(name_key/snils_hash suffixed with #id): ids %s",
            len(collided),
            sorted(set(collided)),
        )


def upgrade() -> None:
    op.add_column("children", sa.Column("snils_hash", sa.Text(), nullable=True))
    op.add_column("children", sa.Column("snils_sealed", sa.Text(), nullable=True))
    op.drop_constraint("uq_children_name_birth", "children", type_="unique")
    op.drop_index("uq_children_snils", table_name="children")
    _convert_children(op.get_bind())
    op.drop_column("children", "snils")
    op.create_unique_constraint("uq_children_name_birth", "children", ["name_key", "birth_date"])
    op.create_index(
        "uq_children_snils_hash", "children", ["snils_hash"], unique=True, postgresql_where=sa.text("snils_hash IS NOT NULL")
    )
    op.create_check_constraint(op.f("ck_children_snils_pair"), "children", "(snils_hash IS NULL) = (snils_sealed IS NULL)")

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("actor_subject", sa.Text(), nullable=False),
        sa.Column("child_id", sa.BigInteger(), nullable=False),
        sa.Column("municipality", sa.String(length=2), nullable=False),
        sa.Column("fields", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.CheckConstraint("actor_role IN ('GUARDIAN', 'PROVIDER', 'OPERATOR', 'ANALYST')", name=op.f("ck_audit_log_actor_role")),
        sa.CheckConstraint("cardinality(fields) > 0", name=op.f("ck_audit_log_fields")),
        sa.ForeignKeyConstraint(["child_id"], ["children.id"], name=op.f("fk_audit_log_child_id_children")),
        sa.ForeignKeyConstraint(["municipality"], ["municipalities.code"], name=op.f("fk_audit_log_municipality_municipalities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_municipality", "audit_log", ["municipality", "id"])
    op.create_index("ix_audit_log_child", "audit_log", ["child_id", "id"])
    op.execute(
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
        " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TABLE audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.add_column("children", sa.Column("snils", sa.String(length=11), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, snils_sealed FROM children WHERE snils_sealed IS NOT NULL")).all()
    if rows:
        keys = _keys()
        conn.execute(
            sa.text("UPDATE children SET snils = :s WHERE id = :id"),
            [{"id": r.id, "s": keys.open(r.snils_sealed)} for r in rows],
        )
    op.drop_constraint(op.f("ck_children_snils_pair"), "children", type_="check")
    op.drop_index("uq_children_snils_hash", table_name="children")
    op.drop_column("children", "snils_sealed")
    op.drop_column("children", "snils_hash")
    op.create_index("uq_children_snils", "children", ["snils"], unique=True, postgresql_where=sa.text("snils IS NOT NULL"))
