"""The dashboards' charts: what utils/steps/load_charts reads from a real audit trail (PostgreSQL),
and the chart files of charts/ run as Mage runs a dashboard chart (its Widget block, with the
configuration of the dashboard's block_layout.yaml). The browser test (tests/ui) checks the
rendered dashboards against load_audit after `make up`."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import yaml
from conftest import REPO

from utils.steps import audit
from utils.steps.load_charts import (
    UNUSUAL_COLUMNS,
    failures_per_day,
    pipeline_of,
    rows_per_month,
    rows_read_log_scale,
    runs_per_day_labelled,
    seconds_per_block,
    unusual_months,
    what_became_of_the_rows,
)

DAY = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
DASHBOARDS = sorted((REPO / 'dashboards' / 'pipelines').glob('*/dashboard/block_layout.yaml'))


def attempt(pipeline, run_id, block, service, month, seconds, status='succeeded', day=DAY, **counts):
    audit.write_row(
        {
            'pipeline_uuid': pipeline,
            'run_id': run_id,
            'block': block,
            'service': service,
            'month': month,
            'started_at': day,
            'finished_at': day + timedelta(seconds=seconds),
            'status': status,
            **counts,
        }
    )


@pytest.fixture()
def trail(pg):
    """Two months of api_to_postgres, one of them loaded twice (the second run's counts are the
    month's), a retry, a failure the next day and a `mage run` without a run id; one other pipeline."""
    oct20, jan21 = date(2020, 10, 1), date(2021, 1, 1)
    attempt('api_to_postgres', 7, 'load_taxi_csv', 'yellow', jan21, 1.5, rows_read=1197, rows_rejected=0)
    attempt(
        'api_to_postgres',
        7,
        'export_taxi_to_postgres',
        'yellow',
        jan21,
        2.0,
        rows_read=1197,
        rows_kept=1100,
        rows_loaded=1100,
        rows_rejected=0,
    )
    attempt('api_to_postgres', 9, 'load_taxi_csv', 'yellow', jan21, 1.0, rows_read=1197, rows_rejected=3)
    attempt(
        'api_to_postgres', 9, 'export_taxi_to_postgres', 'yellow', jan21, 0.5, 'failed', day=DAY + timedelta(days=1)
    )
    attempt(
        'api_to_postgres',
        9,
        'export_taxi_to_postgres',
        'yellow',
        jan21,
        0.25,
        day=DAY + timedelta(days=1),
        rows_read=1197,
        rows_kept=1117,
        rows_loaded=1117,
        rows_rejected=3,
    )
    attempt(
        'api_to_postgres',
        8,
        'export_taxi_to_postgres',
        'green',
        oct20,
        4.0,
        rows_read=95120,
        rows_kept=52351,
        rows_loaded=52351,
        rows_rejected=0,
    )
    attempt('api_to_postgres', None, 'export_taxi_to_postgres', 'green', oct20, 9.0, 'failed')  # `mage run`
    attempt('api_to_gcs', 11, 'export_taxi_to_gcs', 'yellow', jan21, 3.0, rows_read=1197, rows_loaded=1117)
    return pg


def test_rows_per_month_are_each_months_latest_successful_write(trail):
    frame = rows_per_month('api_to_postgres')
    assert frame.to_dict('records') == [
        {'month': 'green 2020-10', 'rows_read': 95120, 'rows_kept': 52351, 'rows_rejected': 0},
        {'month': 'yellow 2021-01', 'rows_read': 1197, 'rows_kept': 1117, 'rows_rejected': 3},
    ]


def test_seconds_per_block_are_per_mage_run_with_retries_added_and_say_what_it_loaded(trail):
    attempt('api_to_postgres', 10, 'load_taxi_csv', 'green', None, 0.01, 'failed')  # a failed run: not drawn
    frame = seconds_per_block('api_to_postgres', ['load_taxi_csv', 'export_taxi_to_postgres'])
    assert frame.to_dict('records') == [
        {'run': '#7 yellow 2021-01 load', 'seconds': 1.5},
        {'run': '#7 yellow 2021-01 postgres', 'seconds': 2.0},
        {'run': '#8 green 2020-10 load', 'seconds': 0.0},
        {'run': '#8 green 2020-10 postgres', 'seconds': 4.0},
        {'run': '#9 yellow 2021-01 load', 'seconds': 1.0},
        {'run': '#9 yellow 2021-01 postgres', 'seconds': 0.75},  # the failure and its retry
    ]  # the `mage run` attempt (no run id) is not a run here
    attempt('api_to_postgres', 12, 'load_taxi_csv', 'green', date(2020, 10, 1), 0.5)
    assert seconds_per_block('api_to_postgres', ['load_taxi_csv'], shown=2)['run'].tolist() == [
        '#09 yellow 2021-01 load',
        '#12 green 2020-10 load',
    ]  # the latest runs, their ids padded to one width: the labels sort as the runs


def test_failures_per_day_count_the_runs_that_failed(trail):
    """Run 9's failed export was mended by its retry: not a failed run. On the next day, a run
    refused for its variables (no service or month: utils/steps/failures.py) and one whose export failed."""
    next_day = DAY + timedelta(days=1)
    attempt('api_to_postgres', 12, 'load_taxi_csv', None, None, 0.1, 'failed', day=next_day)
    attempt('api_to_postgres', 13, 'load_taxi_csv', 'green', date(2020, 10, 1), 1.0, day=next_day)
    attempt('api_to_postgres', 13, 'export_taxi_to_postgres', 'green', date(2020, 10, 1), 1.0, 'failed', day=next_day)
    assert failures_per_day('api_to_postgres').to_dict('records') == [
        {'day': '2026-11-30', 'runs': 3, 'failed_runs': 0},  # runs 7, 8 and 9; the `mage run` is not a run
        {'day': '2026-12-01', 'runs': 2, 'failed_runs': 2},
    ]


def test_before_any_load_the_charts_are_empty_not_errors(pg):
    assert rows_per_month('api_to_postgres').empty and failures_per_day('api_to_gcs').empty
    assert rows_read_log_scale(rows_per_month('api_to_postgres')).empty
    assert what_became_of_the_rows(rows_per_month('api_to_postgres')).empty
    assert runs_per_day_labelled(failures_per_day('api_to_gcs')).empty
    assert list(seconds_per_block('api_to_gcs', ['load_taxi_csv'])) == ['run', 'seconds']


def test_every_chart_has_a_legend_or_labels_its_bars_and_fits_its_axis_titles():
    """What Mage 0.9.80 draws: a bar chart has no legend, so it charts one metric and each bar's
    label says what it counts (a line chart takes only numbers along its x axis: a run's label
    could not be there). The
    axis titles Mage builds from the metric names (`sum(<column>)`) stay short enough to fit. A
    table names its columns (group_by) and has no axis."""
    for path in DASHBOARDS:
        for uuid, chart in yaml.safe_load(path.read_text())['blocks'].items():
            configuration = chart['configuration']
            if configuration['chart_type'] == 'table':
                assert configuration['group_by'] == UNUSUAL_COLUMNS and 'metrics' not in configuration, uuid
                continue
            metrics = [m['column'] for m in configuration['metrics']]
            assert configuration['chart_type'] == 'bar chart' and len(metrics) == 1, uuid
            assert len(', '.join(f'sum({m})' for m in metrics)) <= 45, uuid


def test_a_chart_without_its_pipeline_says_where_to_set_it():
    with pytest.raises(ValueError, match=r'no `pipeline:` in its configuration .*block_layout.yaml'):
        pipeline_of({'chart_type': 'bar chart'})


def test_every_dashboard_chart_names_its_pipeline_and_an_existing_chart_file():
    assert {p.parts[-3] for p in DASHBOARDS} == {
        'api_to_postgres',
        'api_to_gcs',
        'gcs_to_bigquery',
        'postgres_marts',
        'bigquery_marts',
    }
    for path in DASHBOARDS:
        layout = yaml.safe_load(path.read_text())
        placed = {item['block_uuid'] for row in layout['layout'] for item in row}
        assert placed == set(layout['blocks']), path
        for uuid, chart in layout['blocks'].items():
            assert chart['uuid'] == uuid and chart['type'] == 'chart', path
            assert chart['configuration']['pipeline'] == path.parts[-3] == chart['data_source']['pipeline_uuid']
            assert (REPO / f'{chart["file_path"]}.py').is_file(), chart['file_path']
            assert (REPO / 'pipelines' / chart['configuration']['pipeline'] / 'metadata.yaml').is_file()


def run_chart(name: str, configuration: dict, variables: dict | None = None) -> dict:
    """A chart file of charts/ as a dashboard runs it: Mage's chart block, its data source code,
    then Mage's own grouping of the configuration's group_by and metrics."""
    from mage_ai.data_preparation.models.block.block_factory import BlockFactory
    from mage_ai.presenters.charts.data_sources.chart_code import ChartDataSourceChartCode

    block = BlockFactory.get_block(name, name, 'chart', configuration=configuration, language='python')
    return ChartDataSourceChartCode(block_uuid=name).load_data(
        block=block, configuration=configuration, variables=variables
    )


@pytest.fixture()
def mage_project(monkeypatch):
    """Mage looks for charts/<name>.py under its project: this checkout, for this test only."""
    monkeypatch.setenv('MAGE_REPO_PATH', str(REPO))


def test_the_chart_files_give_mage_the_figures(trail, mage_project):
    layout = yaml.safe_load((REPO / 'dashboards/pipelines/api_to_postgres/dashboard/block_layout.yaml').read_text())
    charts = layout['blocks']
    read = run_chart('rows_read_per_month', charts['api_to_postgres_rows_read_per_month']['configuration'])
    assert read['x'] == ['green 2020-10', 'yellow 2021-01']
    assert read['y'] == [[4.978, 3.078]]  # log10 of 95,120 and 1,197: the axis prints 10^value
    became = run_chart('what_became_of_the_rows', charts['api_to_postgres_what_became_of_the_rows']['configuration'])
    assert dict(zip(became['x'], became['y'][0], strict=False)) == {
        'green 2020-10 kept': 55.04,
        'green 2020-10 dropped': 44.96,
        'green 2020-10 malformed': 0.0,
        'yellow 2021-01 kept': 93.32,
        'yellow 2021-01 dropped': 6.43,
        'yellow 2021-01 malformed': 0.25,
    }
    seconds = run_chart('seconds_per_block', charts['api_to_postgres_seconds_per_block']['configuration'])
    assert dict(zip(seconds['x'], seconds['y'][0], strict=True)) == {
        '#7 yellow 2021-01 load': 1.5,
        '#7 yellow 2021-01 postgres': 2.0,
        '#8 green 2020-10 load': 0.0,
        '#8 green 2020-10 postgres': 4.0,
        '#9 yellow 2021-01 load': 1.0,
        '#9 yellow 2021-01 postgres': 0.75,
    }
    failures = run_chart('failures_per_day', charts['api_to_postgres_failures_per_day']['configuration'])
    assert failures['x'] == ['2026-11-30 failed', '2026-11-30 runs'] and failures['y'] == [[0, 3]]


def test_the_bar_charts_show_the_latest_months_and_days(trail):
    """Mage draws at most 50 bars a chart: the bar charts keep the latest service-months (by
    month, then service) and days."""
    months = rows_per_month('api_to_postgres')  # green 2020-10, yellow 2021-01
    assert rows_read_log_scale(months, shown=1)['month'].tolist() == ['yellow 2021-01']
    assert what_became_of_the_rows(months, shown=1)['month'].tolist() == [
        'yellow 2021-01 kept',
        'yellow 2021-01 dropped',
        'yellow 2021-01 malformed',
    ]
    attempt('api_to_postgres', 14, 'load_taxi_csv', 'green', date(2020, 10, 1), 1.0, day=DAY + timedelta(days=3))
    assert runs_per_day_labelled(failures_per_day('api_to_postgres'), shown=1).to_dict('records') == [
        {'day': '2026-12-03 runs', 'runs': 1},
        {'day': '2026-12-03 failed', 'runs': 0},
    ]


def test_the_unusual_months_table_lists_the_pipelines_flags_newest_first(pg, taxi_env):
    """No table yet: no rows but the columns (Mage's table chart reads them); then two flags of
    this pipeline (SYNTHETIC rows) and one of another, as flag_unusual_month writes them."""
    assert unusual_months('api_to_postgres').to_dict('split')['columns'] == UNUSUAL_COLUMNS
    assert unusual_months('api_to_postgres').empty
    with pg.cursor() as cur:
        cur.execute(
            'CREATE SCHEMA ny_taxi; CREATE TABLE ny_taxi.unusual_months (service TEXT, month DATE, pipeline_uuid TEXT, run_id BIGINT, '
            'checked_at TIMESTAMPTZ, findings TEXT)'
        )
        cur.executemany(
            'INSERT INTO ny_taxi.unusual_months VALUES (%s, %s, %s, 1, %s, %s)',
            [
                ('fhv', '2019-08-01', 'api_to_postgres', DAY, 'fhv 2019-08 is unlike its neighbours'),
                ('fhv', '2020-03-01', 'api_to_postgres', DAY.replace(hour=11), 'fhv 2020-03 is unlike its neighbours'),
                ('green', '2020-10-01', 'api_to_gcs', DAY, 'not this pipeline'),
            ],
        )
    assert unusual_months('api_to_postgres').values.tolist() == [
        ['fhv 2020-03', '2026-11-30 11:00', 'fhv 2020-03 is unlike its neighbours'],
        ['fhv 2019-08', '2026-11-30 10:00', 'fhv 2019-08 is unlike its neighbours'],
    ]
