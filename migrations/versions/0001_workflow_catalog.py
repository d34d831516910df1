"""Workflow catalog: the vector extension and the reference RemediationWorkflow table.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        """
        CREATE TABLE workflows (
            workflow_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            workflow_name varchar(255) NOT NULL,
            version varchar(50) NOT NULL,
            name varchar(255) NOT NULL,
            description text NOT NULL,
            owner varchar(255),
            maintainer varchar(255),
            content text NOT NULL,
            content_hash char(64) NOT NULL,
            parameters jsonb,
            execution_engine varchar(255) NOT NULL,
            container_image text,
            container_digest text,
            labels jsonb NOT NULL,
            -- case-folded 'label=value' tokens of the mandatory labels (search.labels), so one
            -- GIN index serves exact values, '*' rows and list-valued labels alike
            label_tokens text[] NOT NULL,
            -- the other four labels' values scoped by signal type (search.labels.scoped_token):
            -- only signal_type is selective, so the search index pairs it with every label
            search_tokens text[] NOT NULL,
            custom_labels jsonb NOT NULL DEFAULT '{}',
            detected_labels jsonb NOT NULL DEFAULT '{}',
            status varchar(20) NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'disabled', 'deprecated', 'archived')),
            disabled_at timestamptz,
            disabled_by varchar(255),
            disabled_reason text,
            is_latest_version boolean NOT NULL DEFAULT false,
            previous_version varchar(50),
            deprecation_notice text,
            version_notes text,
            change_summary text,
            approved_by varchar(255),
            approved_at timestamptz,
            expected_success_rate double precision CHECK (expected_success_rate BETWEEN 0 AND 1),
            expected_duration_seconds integer CHECK (expected_duration_seconds >= 0),
            actual_success_rate double precision CHECK (actual_success_rate BETWEEN 0 AND 1),
            total_executions integer NOT NULL DEFAULT 0 CHECK (total_executions >= 0),
            successful_executions integer NOT NULL DEFAULT 0 CHECK (successful_executions >= 0),
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            created_by varchar(255),
            updated_by varchar(255),
            CONSTRAINT uq_workflows_name_version UNIQUE (workflow_name, version)
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_workflows_latest_per_name ON workflows (workflow_name) WHERE is_latest_version"
    )
    # fastupdate off: the catalog is read far more than written, and GIN's pending list of
    # unmerged inserts is scanned by every search until a vacuum (16 ms instead of 1 ms at 100k).
    op.execute("CREATE INDEX ix_workflows_label_tokens ON workflows USING gin (label_tokens) WITH (fastupdate = off)")
    op.execute(
        "CREATE INDEX ix_workflows_search_tokens ON workflows USING gin (search_tokens)"
        " WITH (fastupdate = off) WHERE is_latest_version"
    )
    op.execute("CREATE INDEX ix_workflows_created_at ON workflows (created_at DESC, workflow_id)")
    op.execute("CREATE INDEX ix_workflows_status ON workflows (status)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS workflows")
    op.execute("DROP EXTENSION IF EXISTS vector")
