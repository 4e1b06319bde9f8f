"""One line in the log: the source month's trips now in BigQuery's fact_trips, and how many were
left out for an unknown pickup or drop-off zone."""

from utils.bigquery_marts import report

if 'custom' not in globals():
    from mage_ai.data_preparation.decorators import custom
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@custom
def report_bigquery_marts(manifest: dict, *args, **kwargs) -> dict:
    return report(manifest)


@test
def test_every_trip_is_in_the_fact_or_counted_as_left_out(manifest: dict, *args) -> None:
    assert manifest['fact_rows'] + manifest['left_out'] == manifest['source_rows'] > 0
