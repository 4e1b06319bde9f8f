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
        from mage_ai.orchestration.db.models.schedules import PipelineRun
        from sqlalchemy import func, select

        runs = self.family()
        counted = select(PipelineRun.pipeline_uuid, PipelineRun.status, func.count()).group_by(
            PipelineRun.pipeline_uuid, PipelineRun.status
        )  # Mage's own model, on a connection of its own: no session of the server's is touched
        with engine.connect() as conn:
            for pipeline, status, count in conn.execute(counted):
                runs.add_metric([pipeline, str(getattr(status, 'value', status)).lower()], count)
        yield runs
