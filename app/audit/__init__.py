"""ADR-034 audit events: validation, partitioned storage, write and query."""
