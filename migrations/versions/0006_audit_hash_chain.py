"""The audit hash chain: chain fields on every event, and each correlation's chain head.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On the partitioned parent: every partition, present and future, gets the columns. Nullable:
    # events stored before this revision have no chain (verification counts them unchained).
    op.execute(
        """
        ALTER TABLE audit_events
            ADD COLUMN chain_sequence bigint,
            ADD COLUMN previous_event_hash varchar(64),
            ADD COLUMN event_hash varchar(64),
            ADD COLUMN hash_algorithm varchar(20)
        """
    )
    # The newest event of each correlation's chain, read under the correlation's advisory lock
    # (app.audit.chain): finding it in audit_events would read every monthly partition.
    op.execute(
        """
        CREATE TABLE audit_chain_heads (
            correlation_id varchar(255) PRIMARY KEY,
            event_id uuid NOT NULL,
            event_hash varchar(64) NOT NULL,
            chain_sequence bigint NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS audit_chain_heads")
    op.execute(
        """
        ALTER TABLE audit_events
            DROP COLUMN IF EXISTS chain_sequence,
            DROP COLUMN IF EXISTS previous_event_hash,
            DROP COLUMN IF EXISTS event_hash,
            DROP COLUMN IF EXISTS hash_algorithm
        """
    )
