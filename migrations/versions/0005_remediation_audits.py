"""Remediation audits, and the vector store table their embeddings go to (dual write).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DIMENSION = 384


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE remediation_audits (
            id uuid PRIMARY KEY,
            name varchar(255) NOT NULL,
            namespace varchar(255) NOT NULL,
            phase varchar(20) NOT NULL CHECK (phase IN ('pending', 'processing', 'completed', 'failed')),
            action_type varchar(100) NOT NULL,
            status varchar(20) CHECK (status IN ('success', 'failure', 'pending', 'running')),
            start_time timestamptz NOT NULL,
            end_time timestamptz,
            remediation_request_id varchar(255) NOT NULL,
            alert_fingerprint varchar(255),
            severity varchar(50),
            environment varchar(255),
            cluster_name varchar(255),
            target_resource varchar(500),
            error_message text,
            metadata jsonb NOT NULL DEFAULT '{}',
            -- 'written': its vector is in the vector store; 'pending': the backfill still owes it one
            vector_store varchar(10) NOT NULL CHECK (vector_store IN ('written', 'pending')),
            created_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """
    )
    op.execute("CREATE INDEX ix_remediation_audits_start ON remediation_audits (start_time DESC, id DESC)")
    op.execute("CREATE INDEX ix_remediation_audits_request ON remediation_audits (remediation_request_id)")
    op.execute("CREATE INDEX ix_remediation_audits_pending ON remediation_audits (id) WHERE vector_store = 'pending'")
    # The pgvector store when it lives in this database (it creates the same table itself when
    # it is another database, VECTOR_DATABASE_URL).
    op.execute(
        f"""
        CREATE TABLE IF NOT EXISTS remediation_audit_vectors (
            audit_id uuid PRIMARY KEY,
            embedding vector({DIMENSION}) NOT NULL,
            model text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS remediation_audit_vectors")
    op.execute("DROP TABLE IF EXISTS remediation_audits")
