"""When a load starts its marts' refresh, and when it says why not (utils/steps/marts_follow.py). The
refresh itself, through the server: tests/pipelines/test_dbt_marts.py and test_run_local.py."""

import pytest

from utils.steps.marts_follow import why_not_refreshed

LOADED = {'service': 'green', 'year': 2020, 'month': 10, 'source': 'course', 'raw': False}
SERVER_RUN = {'pipeline_uuid': 'api_to_postgres', 'pipeline_run_id': 12}


def test_a_server_run_s_load_refreshes_its_marts():
    assert why_not_refreshed(LOADED, SERVER_RUN) is None
    assert why_not_refreshed(LOADED, {**SERVER_RUN, 'pipeline_uuid': 'gcs_to_bigquery'}) is None
    assert why_not_refreshed({**LOADED, 'service': 'fhv'}, SERVER_RUN) is None  # fact_fhv_trips


@pytest.mark.parametrize(
    'manifest, variables, why',
    [
        ({**LOADED, 'unchanged': True}, SERVER_RUN, 'the month was unchanged, so are its marts'),
        ({**LOADED, 'raw': True}, SERVER_RUN, 'a raw load: the marts read the cleaned tables'),
        ({**LOADED, 'service': 'fhvhv'}, SERVER_RUN, 'fhvhv has no marts'),
        (LOADED, {**SERVER_RUN, 'pipeline_run_id': None}, 'not a run of the server: run postgres_marts yourself'),
        (LOADED, {**SERVER_RUN, 'refresh_marts': 'false'}, 'the pipeline variable refresh_marts is false'),
        (LOADED, {**SERVER_RUN, 'pipeline_uuid': 'api_to_gcs'}, "'api_to_gcs' has no marts to refresh"),
    ],
)
def test_a_load_that_starts_no_refresh_says_why(manifest, variables, why):
    assert why_not_refreshed(manifest, variables) == why
