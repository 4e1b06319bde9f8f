"""Refresh the loaded month's marts: start the marts pipeline of this pipeline's warehouse for the
month (api_to_postgres -> postgres_marts, gcs_to_bigquery -> bigquery_marts), as a run of its own
that this run does not wait for; a refresh that fails fails (and alerts) its own run, never this
load. A month skipped as unchanged, a raw load, fhvhv, a run outside the server or
refresh_marts=false start none, saying why (utils/steps/marts_follow.py).
"""

from utils.steps.marts_follow import refresh_after_load

if 'custom' not in globals():
    from mage_ai.data_preparation.decorators import custom
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@custom
def refresh_marts(manifest: dict, *args, **kwargs) -> dict:
    return refresh_after_load(manifest, kwargs)


@test
def test_a_refresh_is_started_or_said_why_not(manifest: dict, *args) -> None:
    assert 'marts_run_id' in manifest, manifest
