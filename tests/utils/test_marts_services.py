"""Which services have marts, and what a run of each builds: read from the dbt project itself
(its var fact_tables, its models' enabled config), so Python and dbt cannot disagree."""

import pytest

from utils.steps.marts import FACT_TABLES, check_source_month, mart_tables


def test_fhvhv_is_refused_naming_the_services_the_marts_build():
    with pytest.raises(ValueError, match=r"built from yellow, green, fhv trips.*service='fhvhv' has no mart yet"):
        check_source_month({}, {'service': 'fhvhv', 'year': 2019, 'month': 2, 'pipeline_uuid': 'postgres_marts'})


def test_a_run_builds_its_service_s_fact_table_and_what_reads_it():
    assert FACT_TABLES == {'yellow': 'fact_trips', 'green': 'fact_trips', 'fhv': 'fact_fhv_trips'}
    assert mart_tables('fact_fhv_trips') == ('dim_zones', 'fact_fhv_trips')
    assert mart_tables('fact_trips') == (
        'dim_zones',
        'dm_monthly_borough_trips',
        'dm_monthly_zone_revenue',
        'fact_trips',
        'int_monthly_zone_revenue',
    )


def test_the_data_dictionary_refuses_a_schema_name_that_is_not_an_identifier(monkeypatch):
    """describe() checks POSTGRES_SCHEMA as the loads and table() do, before it connects."""
    from utils.steps.marts import warehouse

    monkeypatch.setenv('POSTGRES_SCHEMA', 'ny_taxi; DROP TABLE x')
    with pytest.raises(ValueError, match='POSTGRES_SCHEMA'):
        warehouse('postgres_marts').describe(('fact_trips',))
