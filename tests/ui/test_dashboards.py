"""Each pipeline's Dashboard as a person opens it (Pipelines > <pipeline> > Dashboard) in a real
browser, on the session's `make up` stack: every chart of its block_layout.yaml gets its figures
(the responses the page received, by the chart's id) and draws them, and the figures are what
load_audit and the marts hold, computed here in Python from the rows themselves. Screenshots:
.artifacts/ui/dashboard-<pipeline>.png."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date, timezone
from urllib.parse import unquote

import pytest
import yaml
from conftest import query
from test_mage_ui import ARTIFACTS, UI_DEADLINE_MS, browser, page, tracked_files_left_as_found  # noqa: F401

pytestmark = pytest.mark.mage
AUDITED = ['api_to_postgres', 'api_to_gcs', 'gcs_to_bigquery']
MARTS = ['postgres_marts', 'bigquery_marts']


def charts_of(stack, pipeline: str) -> dict:
    path = stack.checkout / 'dashboards' / 'pipelines' / pipeline / 'dashboard' / 'block_layout.yaml'
    return yaml.safe_load(path.read_text())['blocks']


def open_dashboard(page, pipeline: str, charts: dict) -> dict[str, dict]:
    """Open the dashboard; return each chart's figures ({x, y}) as the page received them."""
    received: dict[str, dict] = {}

    def keep(response):
        if '/block_layout_items/' in response.url and response.ok:
            uuid = unquote(response.url.split('/block_layout_items/')[1].split('?')[0])
            received[uuid] = response.json().get('block_layout_item') or {}

    page.on('response', keep)
    page.ui(f'/pipelines/{pipeline}/dashboard')
    deadline = time.monotonic() + UI_DEADLINE_MS / 1000
    while set(received) != set(charts):
        assert time.monotonic() < deadline, f'{pipeline}: charts without data: {sorted(set(charts) - set(received))}'
        page.wait_for_timeout(500)
    page.remove_listener('response', keep)
    errors = {uuid: item['error'] for uuid, item in received.items() if item.get('error')}
    assert not errors, f'{pipeline}: charts that failed: {errors}'
    return {uuid: item.get('data') or {} for uuid, item in received.items()}


def audit_snapshot(db) -> int:
    return query(db, 'SELECT coalesce(max(id), 0) FROM ny_taxi.load_audit')[0][0]


def expected_audit_charts(db, pipeline: str, blocks: list[str]) -> dict[str, dict]:
    """The three charts' figures, from the pipeline's audit rows (in Python, not the charts' SQL)."""
    rows = query(db, 'SELECT run_id, block, service, month, rows_read, rows_loaded, rows_rejected, status, started_at, '
                     'finished_at FROM ny_taxi.load_audit WHERE pipeline_uuid = %s ORDER BY id', (pipeline,))
    months, seconds, days = {}, defaultdict(lambda: defaultdict(float)), defaultdict(lambda: [0, 0])
    first_day, last_status = {}, {}  # per run: the day of its first row, the status of its latest
    for run_id, block, service, month, read, loaded, rejected, status, started, finished in rows:
        if status == 'succeeded' and loaded is not None:  # a later write of the month replaces it
            months[f'{service} {month:%Y-%m}'] = (read, loaded, rejected or 0)
        if run_id is not None:
            seconds[run_id][block] += (finished - started).total_seconds()
            first_day.setdefault(run_id, f'{started.astimezone(timezone.utc):%Y-%m-%d}')  # the chart's days are UTC's
            last_status[run_id] = status
    for run_id, day in first_day.items():
        days[day][0] += 1
        days[day][1] += last_status[run_id] == 'failed'
    runs = sorted(seconds)[-20:]
    return {
        f'{pipeline}_rows_per_month': (sorted(months), [list(col) for col in zip(*(months[m] for m in sorted(months)))]),
        f'{pipeline}_seconds_per_block': (runs, [[round(seconds[r][b], 2) for r in runs] for b in blocks]),
        f'{pipeline}_failures_per_day': (sorted(days), [list(col) for col in zip(*(days[d] for d in sorted(days)))]),
    }


def bars_drawn(page, chart_name: str) -> int:
    """The bars of the chart titled `chart_name`: the rects of the SVG in the same panel."""
    panel = page.locator('div').filter(has=page.get_by_text(chart_name, exact=True)).filter(
        has=page.locator('svg')).last
    return panel.locator('svg rect').count()


@pytest.mark.parametrize('pipeline', AUDITED)
def test_a_pipeline_dashboard_charts_what_load_audit_holds(page, stack, db, pipeline):
    charts = charts_of(stack, pipeline)
    for _ in range(5):  # a load finishing while the page loads changes the truth: look again
        before = audit_snapshot(db)
        received = open_dashboard(page, pipeline, charts)
        blocks = [m['column'] for m in charts[f'{pipeline}_seconds_per_block']['configuration']['metrics']]
        expected = expected_audit_charts(db, pipeline, blocks)
        if audit_snapshot(db) == before:
            break
    # the months `make up` loaded are there (the session's other tests load more)
    assert {'green 2020-10', 'yellow 2021-01'} <= set(expected[f'{pipeline}_rows_per_month'][0])
    for uuid, chart in charts.items():
        x, y = expected[uuid]
        metrics = [m['column'] for m in chart['configuration']['metrics']]
        if uuid.endswith('_rows_per_month'):  # the columns this pipeline's chart shows
            y = [y[['rows_read', 'rows_kept', 'rows_rejected'].index(m)] for m in metrics]
        assert received[uuid]['x'] == x, uuid
        assert len(received[uuid]['y']) == len(y), uuid
        for got, want in zip(received[uuid]['y'], y):
            assert got == pytest.approx(want, abs=0.011), uuid  # seconds: rounded to 0.01 by each side
        assert bars_drawn(page, chart['name']) >= len(x) * len(y), f'{uuid}: fewer bars drawn than it has values'
    # the failed runs charted are Mage's own failed runs of the pipeline (each has its audit row)
    failed_in_mage = sum(r['status'] == 'failed' for r in stack.mage.runs(pipeline))
    assert sum(expected[f'{pipeline}_failures_per_day'][1][1]) == failed_in_mage
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f'dashboard-{pipeline}.png'), full_page=True)


@pytest.mark.parametrize('pipeline', MARTS)
def test_a_marts_dashboard_charts_the_zones_of_its_month(page, stack, db, pipeline):
    """Revenue and trips of the month in the pipeline's variables (yellow 2021-01), top 15 zones
    by revenue; both warehouses were built from the same month, so PostgreSQL's mart is the truth."""
    variables = yaml.safe_load((stack.checkout / 'pipelines' / pipeline / 'metadata.yaml').read_text())['variables']
    month = date(int(variables['year']), int(variables['month']), 1)
    zones = query(db, 'SELECT revenue_zone, revenue_monthly_total_amount, total_monthly_trips FROM '
                      'ny_taxi.dm_monthly_zone_revenue WHERE revenue_month = %s AND service_type = %s',
                  (month, variables['service'].capitalize()))
    top = sorted(zones, key=lambda z: (-z[1], z[0]))[:15]
    assert len(top) == 15
    charts = charts_of(stack, pipeline)
    received = open_dashboard(page, pipeline, charts)
    revenue, trips = received[f'{pipeline}_zone_revenue'], received[f'{pipeline}_zone_trips']
    assert dict(zip(revenue['x'], revenue['y'][0])) == pytest.approx({z: round(float(r), 2) for z, r, _ in top})
    assert dict(zip(trips['x'], trips['y'][0])) == {z: t for z, _, t in top}
    for chart in charts.values():
        assert bars_drawn(page, chart['name']) >= 15, chart['name']
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f'dashboard-{pipeline}.png'), full_page=True)
