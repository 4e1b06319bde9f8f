"""Prometheus metrics (ENABLE_PROMETHEUS=1, as the session's `make up` stack sets it): a scrape
of Mage's /metrics counts the pipeline runs by pipeline and status, as Mage's API lists them."""

from collections import Counter

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.mage


def scrape(stack) -> dict[tuple[str, str], float]:
    answer = requests.get(f'{stack.mage.base_url}/metrics', timeout=30)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers['Content-Type'].startswith('text/plain; version=')  # Prometheus' text format
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    return {(s.labels['pipeline'], s.labels['status']): s.value for s in families['mage_pipeline_runs'].samples}


def api_counts(stack) -> Counter:
    runs = stack.mage._get('pipeline_runs', _limit=10_000)['pipeline_runs']
    return Counter((r['pipeline_uuid'], r['status']) for r in runs)


def test_a_scrape_shows_the_completed_and_failed_runs(stack):
    failed = stack.mage.run('api_to_postgres', {'service': 'green', 'year': 2019, 'month': 5})  # not on the mirror
    assert failed.status == 'failed', failed
    scraped = scrape(stack)
    assert scraped == api_counts(stack)
    assert scraped[('api_to_postgres', 'failed')] >= 1
    # make up's runs, completed: api_to_postgres, api_to_gcs, gcs_to_bigquery and the marts
    for pipeline in ('api_to_postgres', 'api_to_gcs', 'gcs_to_bigquery', 'postgres_marts', 'bigquery_marts'):
        assert scraped[(pipeline, 'completed')] >= 2, (pipeline, scraped)


def test_mage_own_http_metrics_are_there_too(stack):
    answer = requests.get(f'{stack.mage.base_url}/metrics', timeout=30).text
    assert 'http_server_duration' in answer or 'http_server_request_duration' in answer, answer[:2000]
