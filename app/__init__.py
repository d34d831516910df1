"""HTTP service wiring: settings, database, routes, errors and lifecycles."""
