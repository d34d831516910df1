"""Audit retention: a policy per event category, and where each chain was pruned.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A category without a row is kept for ever.
    op.execute(
        """
        CREATE TABLE audit_retention_policies (
            event_category varchar(50) PRIMARY KEY,
            retention_days integer NOT NULL CHECK (retention_days > 0),
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """
    )
    # Retention removes a chain's oldest events only (a prefix); the newest removed is where
    # verification starts: its sequence and hash.
    op.execute(
        """
        ALTER TABLE audit_chain_heads
            ADD COLUMN pruned_through_sequence bigint NOT NULL DEFAULT 0,
            ADD COLUMN pruned_through_hash varchar(64)
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE audit_chain_heads DROP COLUMN pruned_through_sequence, DROP COLUMN pruned_through_hash")
    op.execute("DROP TABLE IF EXISTS audit_retention_policies")
