"""Notification delivery audit: the reference NotificationAudit, one row per notification_id.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # created_at and updated_at share now() (the transaction's time), so a new row's two are equal.
    op.execute(
        """
        CREATE TABLE notification_audit (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            remediation_id varchar(255) NOT NULL,
            notification_id varchar(255) NOT NULL,
            recipient varchar(500) NOT NULL,
            channel varchar(50) NOT NULL CHECK (channel IN ('email', 'slack', 'pagerduty', 'webhook')),
            message_summary varchar(1000) NOT NULL,
            status varchar(50) NOT NULL CHECK (status IN ('sent', 'failed', 'pending')),
            sent_at timestamptz NOT NULL,
            delivery_status varchar(255),
            error_message varchar(1000),
            escalation_level integer NOT NULL DEFAULT 0 CHECK (escalation_level BETWEEN 0 AND 5),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_notification_audit_notification_id UNIQUE (notification_id)
        )
        """
    )
    for name, definition in {
        "ix_notification_audit_remediation": "(remediation_id, sent_at DESC)",
        "ix_notification_audit_sent_at": "(sent_at DESC, id DESC)",
        "ix_notification_audit_channel": "(channel, sent_at DESC)",
        "ix_notification_audit_status": "(status, sent_at DESC)",
    }.items():
        op.execute(f"CREATE INDEX {name} ON notification_audit {definition}")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS notification_audit")
