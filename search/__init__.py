"""Workflow search rules: candidate filters, scoring and ranking (pure reference and SQL)."""
