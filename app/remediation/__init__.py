"""Remediation audits, written to PostgreSQL and to a vector store as one unit (dual write)."""
