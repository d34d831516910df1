"""Workflow embeddings: the vector, the model that made it, and the text it was made from.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# all-MiniLM-L6-v2; the service refuses to start when its model's dimension differs.
DIMENSION = 384


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE workflows
            ADD COLUMN embedding vector({DIMENSION}),
            ADD COLUMN embedding_model text,
            -- SHA-256 of the text the stored embedding was computed from
            ADD COLUMN embedding_text_hash char(64),
            -- SHA-256 of the workflow's embedding text as it is now (embeddings.text)
            ADD COLUMN text_hash char(64),
            ADD COLUMN embedded_at timestamptz
        """
    )
    # What the backfill claims: no embedding, another model's, or one made from other text.
    op.execute(
        """
        CREATE INDEX ix_workflows_embedding_stale ON workflows (workflow_id)
        WHERE embedding IS NULL OR embedding_text_hash IS DISTINCT FROM text_hash
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_workflows_embedding_stale")
    op.execute(
        """
        ALTER TABLE workflows
            DROP COLUMN embedded_at,
            DROP COLUMN text_hash,
            DROP COLUMN embedding_text_hash,
            DROP COLUMN embedding_model,
            DROP COLUMN embedding
        """
    )
