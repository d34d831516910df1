"""The workflow catalog: versions, search, and the search's own audit event."""
