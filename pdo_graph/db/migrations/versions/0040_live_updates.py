"""live updates: triggers announce committed changes on the channel pdo_live; the notifications table

Revision ID: 0040
Revises: 0005
Create Date: 2026-12-08 10:00:00

Subscriptions (``groupSeats``, ``certificateBalance``, ``enrollmentUpdated``, ``notificationAdded``)
follow changes made by any server process through PostgreSQL ``LISTEN/NOTIFY``. Triggers send the
notifications, so every write path is covered (mutations, background jobs, sync, the CLI, SQL by
hand) and no domain code knows of them. ``pg_notify`` inside a transaction is delivered when it
commits, and never when it rolls back; PostgreSQL folds identical notifications of one transaction
into one.

Each payload is a small JSON object of ids only: ``{"topic": "group", "key": 42}``
(:mod:`pdo_graph.live.topics` names the topics):

- ``group``: a group's seats taken or capacity changed (key: the group's id);
- ``certificate``: a balance row of the certificate was credited, reserved, spent or expired (key:
  the certificate's id);
- ``enrollment``: an enrollment's status changed (key: its id);
- ``notification``: a notification was added for a guardian (key: md5 of the guardian's subject, a
  fixed-size routing key whatever the identity provider's subjects look like).

``notifications`` is the in-app notification of a person (domain.md "Notifications and live
updates"): what, for whom, when, and when it was read. The services that write it (certificate
issued, application accepted, waitlist offer, ...) come with the family-side issue.
"""

from alembic import op

revision = "0040"
down_revision = "0005"
branch_labels = None
depends_on = None

CHANNEL = "pdo_live"


def upgrade() -> None:
    op.execute(
        "CREATE TABLE notifications ("
        " id bigserial CONSTRAINT pk_notifications PRIMARY KEY,"
        " guardian_id bigint NOT NULL CONSTRAINT fk_notifications_guardian_id_guardians REFERENCES guardians (id),"
        " kind text NOT NULL,"
        " title text NOT NULL,"
        " body text NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " read_at timestamptz,"
        " CONSTRAINT ck_notifications_kind CHECK (kind ~ '^[A-Z][A-Z_]{0,39}$'))"
    )
    op.execute("CREATE INDEX ix_notifications_guardian ON notifications (guardian_id, id)")
    # topic in TG_ARGV[0], the column holding the key in TG_ARGV[1]
    op.execute(
        "CREATE FUNCTION live_announce() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" PERFORM pg_notify('{CHANNEL}', json_build_object('topic', TG_ARGV[0], 'key', to_jsonb(NEW) -> TG_ARGV[1])::text);"
        " RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER live_group_seats AFTER UPDATE OF seats_taken, capacity ON groups FOR EACH ROW"
        " WHEN (OLD.seats_taken IS DISTINCT FROM NEW.seats_taken OR OLD.capacity IS DISTINCT FROM NEW.capacity)"
        " EXECUTE FUNCTION live_announce('group', 'id')"
    )
    op.execute(
        "CREATE TRIGGER live_balance_credited AFTER INSERT ON balances FOR EACH ROW"
        " EXECUTE FUNCTION live_announce('certificate', 'certificate_id')"
    )
    op.execute(
        "CREATE TRIGGER live_balance_changed AFTER UPDATE ON balances FOR EACH ROW"
        " WHEN ((OLD.credited, OLD.reserved, OLD.spent, OLD.expired)"
        " IS DISTINCT FROM (NEW.credited, NEW.reserved, NEW.spent, NEW.expired))"
        " EXECUTE FUNCTION live_announce('certificate', 'certificate_id')"
    )
    op.execute(
        "CREATE TRIGGER live_enrollment_status AFTER UPDATE OF status ON enrollments FOR EACH ROW"
        " WHEN (OLD.status IS DISTINCT FROM NEW.status)"
        " EXECUTE FUNCTION live_announce('enrollment', 'id')"
    )
    op.execute(
        "CREATE FUNCTION live_notification_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" PERFORM pg_notify('{CHANNEL}', json_build_object('topic', 'notification', 'key',"
        " (SELECT md5(subject) FROM guardians WHERE id = NEW.guardian_id))::text);"
        " RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER live_notification_added AFTER INSERT ON notifications FOR EACH ROW"
        " EXECUTE FUNCTION live_notification_added()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER live_notification_added ON notifications")
    op.execute("DROP FUNCTION live_notification_added()")
    op.execute("DROP TRIGGER live_enrollment_status ON enrollments")
    op.execute("DROP TRIGGER live_balance_changed ON balances")
    op.execute("DROP TRIGGER live_balance_credited ON balances")
    op.execute("DROP TRIGGER live_group_seats ON groups")
    op.execute("DROP FUNCTION live_announce()")
    op.execute("DROP TABLE notifications")
