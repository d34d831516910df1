"""Locust load profile (stub): an agent asking for the workflow for an OOMKilled pod.

The full profile (AgentUser, AuditWriter, CatalogAdmin) comes with the benchmarks issue.
Run: ``locust -f locustfile.py --headless -u 4 -r 2 -t 30s --host http://127.0.0.1:8080``.
"""

from __future__ import annotations

from locust import FastHttpUser, between, task


class AgentUser(FastHttpUser):
    wait_time = between(0.5, 2.0)
    host = "http://127.0.0.1:8080"

    @task
    def search_for_oomkilled_pod(self) -> None:
        self.client.post(
            "/api/v1/workflows/search",
            json={
                "filters": {
                    "signal_type": "OOMKilled",
                    "severity": "critical",
                    "component": "pod",
                    "environment": "production",
                    "priority": "P0",
                }
            },
            name="search (label)",
        )
