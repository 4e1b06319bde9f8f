"""/metrics shows the pipeline runs: with ENABLE_PROMETHEUS on, Mage's /metrics has only its HTTP
server's requests; RunCounts adds the pipeline runs by pipeline and status, read from Mage's
database at each scrape.
"""

from __future__ import annotations


def prometheus_enabled(env) -> bool:
    """ENABLE_PROMETHEUS as Mage reads it (settings/server.py: true, 1 or t)."""
    return str(env.get('ENABLE_PROMETHEUS', '')).strip().lower() in ('true', '1', 't')


class RunCounts:
    """A Prometheus collector: `mage_pipeline_runs{pipeline, status}`, the pipeline runs in Mage's
    database (server-triggered runs: `mage run` records none), counted at each scrape."""

    @staticmethod
    def family():
        from prometheus_client.core import GaugeMetricFamily

        return GaugeMetricFamily(
            'mage_pipeline_runs',
            "Pipeline runs in Mage's database, by pipeline and status",
            labels=['pipeline', 'status'],
        )

    def describe(self):  # what register() asks, so it does not query a database Mage has not set up yet
        yield self.family()

    def collect(self):
        from mage_ai.orchestration.db import engine  # imported at the first scrape: Mage chose the database
        from sqlalchemy import text

        runs = self.family()
        with engine.connect() as conn:
            rows = conn.execute(text('SELECT pipeline_uuid, status, count(*) FROM pipeline_run GROUP BY 1, 2'))
            for pipeline, status, count in rows:
                runs.add_metric([pipeline, str(status).lower()], count)
        yield runs
