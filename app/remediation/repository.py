"""The remediation audit tables; the SQL that reads them lives in ``service.py`` and ``resync.py``,
and the dual write's own steps in ``dual_write.py``, each beside the rule it serves."""

from __future__ import annotations

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID  # noqa: N811 - the dialect's own name

# Mirrors migrations/versions/0005 (the migration is the source of truth for DDL).
remediation_audits = Table(
    "remediation_audits",
    MetaData(),
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    *(Column(name, String(255)) for name in ("name", "namespace", "phase", "action_type", "status")),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True)),
    *(
        Column(name, String(500))
        for name in ("remediation_request_id", "alert_fingerprint", "severity", "environment", "cluster_name")
    ),
    Column("target_resource", String(500)),
    Column("error_message", Text),
    Column("metadata", JSONB, nullable=False),
    Column("vector_store", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

# The vector store's table when it lives in this database (VectorStore.same_database): only the
# columns a search joining it to remediation_audits reads. Mirrors migrations/versions/0005 and
# vector_store.VECTOR_TABLE_SQL.
remediation_audit_vectors = Table(
    "remediation_audit_vectors",
    MetaData(),
    Column("audit_id", PgUUID(as_uuid=True), primary_key=True),
    Column("embedding", VECTOR(), nullable=False),
)
