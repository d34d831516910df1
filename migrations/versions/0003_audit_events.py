"""ADR-034 audit events, range-partitioned by month on the event's (UTC) date.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE audit_events (
            event_id uuid NOT NULL,
            event_date date NOT NULL,
            event_timestamp timestamptz NOT NULL,
            version varchar(20) NOT NULL,
            event_type varchar(100) NOT NULL,
            event_category varchar(50) NOT NULL,
            event_action varchar(50) NOT NULL,
            event_outcome varchar(20) NOT NULL,
            actor_type varchar(255),
            actor_id varchar(255),
            resource_type varchar(255),
            resource_id varchar(255),
            correlation_id varchar(255) NOT NULL,
            parent_event_id uuid,
            namespace varchar(255),
            cluster_name varchar(255),
            severity varchar(50),
            duration_ms bigint,
            event_data jsonb NOT NULL,
            stored_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (event_id, event_date)
        ) PARTITION BY RANGE (event_date)
        """
    )
    # Indexes on the parent are created on every partition, present and future.
    for name, definition in {
        "ix_audit_events_order": "(event_timestamp DESC, event_id DESC)",
        "ix_audit_events_event_id": "(event_id)",
        "ix_audit_events_type": "(event_type, event_timestamp DESC)",
        "ix_audit_events_category": "(event_category, event_timestamp DESC)",
        "ix_audit_events_outcome": "(event_outcome, event_timestamp DESC)",
        "ix_audit_events_severity": "(severity, event_timestamp DESC)",
        "ix_audit_events_correlation": "(correlation_id, event_timestamp DESC)",
        "ix_audit_events_data": "USING gin (event_data)",
    }.items():
        op.execute(f"CREATE INDEX {name} ON audit_events {definition}")
    # Creating a month's partition, safely under concurrency (the advisory lock serialises
    # creators; IF NOT EXISTS alone races on the catalog).
    op.execute(
        """
        CREATE FUNCTION ensure_audit_events_partition(day date) RETURNS text
        LANGUAGE plpgsql AS $$
        DECLARE
            first_day date := date_trunc('month', day)::date;
            partition text := format('audit_events_y%sm%s', to_char(first_day, 'YYYY'), to_char(first_day, 'MM'));
        BEGIN
            IF to_regclass(partition) IS NULL THEN
                PERFORM pg_advisory_xact_lock(hashtext('audit_events_partitions'));
                EXECUTE format(
                    'CREATE TABLE IF NOT EXISTS %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
                    partition, first_day, (first_day + interval '1 month')::date
                );
            END IF;
            RETURN partition;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS ensure_audit_events_partition(date)")
    op.execute("DROP TABLE IF EXISTS audit_events")
