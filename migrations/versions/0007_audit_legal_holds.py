"""Legal holds on audit trails, and the trigger that keeps held events from being deleted.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A released hold stays, as the record of who held and released it; at most one is active.
    op.execute(
        """
        CREATE TABLE audit_legal_holds (
            hold_id uuid PRIMARY KEY,
            correlation_id varchar(255) NOT NULL,
            reason text NOT NULL,
            placed_by varchar(255) NOT NULL,
            placed_at timestamptz NOT NULL,
            released_by varchar(255),
            released_at timestamptz,
            release_reason text
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_audit_legal_holds_active ON audit_legal_holds (correlation_id) "
        "WHERE released_at IS NULL"
    )
    # In the database, not the service: a DELETE from psql or any other client is refused too.
    # A row trigger on the partitioned parent is cloned to every partition, present and future,
    # so deleting from a partition directly is refused as well.
    op.execute(
        """
        CREATE FUNCTION audit_events_refuse_held_delete() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (
                SELECT 1 FROM audit_legal_holds WHERE correlation_id = OLD.correlation_id AND released_at IS NULL
            ) THEN
                RAISE EXCEPTION 'audit event % is under legal hold (correlation_id %)', OLD.event_id, OLD.correlation_id
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN OLD;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_events_legal_hold BEFORE DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_held_delete()"
    )
    # An active hold is ended by releasing it (an UPDATE that keeps the record), never deleted.
    op.execute(
        """
        CREATE FUNCTION audit_legal_holds_refuse_delete() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.released_at IS NULL THEN
                RAISE EXCEPTION 'the legal hold on correlation_id % is active: release it instead', OLD.correlation_id
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN OLD;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_legal_holds_active BEFORE DELETE ON audit_legal_holds "
        "FOR EACH ROW EXECUTE FUNCTION audit_legal_holds_refuse_delete()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_events_legal_hold ON audit_events")
    op.execute("DROP FUNCTION IF EXISTS audit_events_refuse_held_delete()")
    op.execute("DROP TABLE IF EXISTS audit_legal_holds")
    op.execute("DROP FUNCTION IF EXISTS audit_legal_holds_refuse_delete()")
