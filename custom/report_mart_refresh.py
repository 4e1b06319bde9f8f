"""After dbt built the marts: the data dictionary onto their columns (PostgreSQL comments,
BigQuery descriptions), and one line in the log: the source month's trips now in fact_trips, and
how many were left out because their pickup or drop-off zone is unknown (as the course's
fact_trips leaves them out)."""

from utils.steps.marts import report_refresh

if 'custom' not in globals():
    from mage_ai.data_preparation.decorators import custom
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@custom
def report_mart_refresh(dbt_build, manifest: dict, *args, **kwargs) -> dict:
    return report_refresh(manifest, kwargs['pipeline_uuid'])


@test
def test_every_trip_is_in_the_fact_or_counted_as_left_out(manifest: dict, *args) -> None:
    assert manifest['fact_rows'] + manifest['left_out'] == manifest['source_rows'] > 0
