"""Each pipeline's Dashboard as a person opens it (Pipelines > <pipeline> > Dashboard) in a real
browser, on the session's `make up` stack: every chart of its block_layout.yaml gets its figures
(the responses the page received, by the chart's id) and draws them, and the figures are what
load_audit and the marts hold, computed here in Python from the rows themselves. Screenshots:
.artifacts/ui/dashboard-<pipeline>.png."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import date, timezone
from urllib.parse import unquote

import pytest
import yaml
from conftest import query
from support.browser import ARTIFACTS, UI_DEADLINE_MS, browser, page, tracked_files_left_as_found  # noqa: F401

from utils.steps.load_charts import (
    DAYS_SHOWN,
    MONTHS_READ_SHOWN,
    MONTHS_SPLIT_SHOWN,
    RUNS_SHOWN,
    UNUSUAL_COLUMNS,
    seconds_column,
)

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


def expected_audit_charts(db, pipeline: str, blocks: list[str]) -> dict[str, tuple[list, list]]:
    """The four charts' figures ({uuid: (x, y)}), from the pipeline's audit rows (in Python, not
    the charts' SQL)."""
    rows = query(
        db,
        'SELECT run_id, block, service, month, rows_read, rows_loaded, rows_rejected, status, started_at, '
        'finished_at FROM ny_taxi.load_audit WHERE pipeline_uuid = %s ORDER BY id',
        (pipeline,),
    )
    months, seconds, days = {}, defaultdict(lambda: defaultdict(float)), defaultdict(lambda: [0, 0])
    first_day, last_status, loaded_by = {}, {}, {}  # per run: its first row's day, its latest status, its month
    for run_id, block, service, month, read, loaded, rejected, status, started, finished in rows:
        if status == 'succeeded' and loaded is not None:  # a later write of the month replaces it
            months[f'{service} {month:%Y-%m}'] = (read, loaded, rejected or 0)
        if run_id is not None:
            seconds[run_id][block] += (finished - started).total_seconds()
            loaded_by.setdefault(run_id, f'{service} {month:%Y-%m}' if service and month else 'no month')
            first_day.setdefault(run_id, f'{started.astimezone(timezone.utc):%Y-%m-%d}')  # the chart's days are UTC's
            last_status[run_id] = status
    for run_id, day in first_day.items():
        days[day][0] += 1
        days[day][1] += last_status[run_id] == 'failed'
    runs = sorted(r for r in seconds if last_status[r] != 'failed')[-RUNS_SHOWN:]  # a failed run is not drawn
    width = len(str(max(runs, default=0)))
    per_run = {  # a bar per block of each run, labelled with what the run loaded, in Mage's sorted order
        f'#{r:0{width}d} {loaded_by[r]} {seconds_column(b)}': round(seconds[r][b], 2) for r in runs for b in blocks
    }
    latest = sorted(months, key=lambda m: (m.split()[1], m.split()[0]))  # by month, then service
    read_shown = {m: months[m] for m in latest[-MONTHS_READ_SHOWN:]}
    became = {}  # Mage groups the bars by their label, in its sorted order
    for month, (read, kept, rejected) in ((m, months[m]) for m in latest[-MONTHS_SPLIT_SHOWN:]):
        for what, rows in (('kept', kept), ('dropped', read - kept - rejected), ('malformed', rejected)):
            became[f'{month} {what}'] = round(100 * rows / (read or 1), 2)
    per_day = {
        f'{day} {what}': n
        for day in sorted(days)[-DAYS_SHOWN:]
        for what, n in (('runs', days[day][0]), ('failed', days[day][1]))
    }
    unusual = (
        query(
            db,
            'SELECT service, month, checked_at, findings FROM ny_taxi.unusual_months WHERE pipeline_uuid = %s',
            (pipeline,),
        )
        if query(db, "SELECT to_regclass('ny_taxi.unusual_months')")[0][0]
        else []
    )
    unusual.sort(key=lambda r: (-r[2].timestamp(), r[0], r[1]))  # the newest check first
    return {
        f'{pipeline}_unusual_months': (
            UNUSUAL_COLUMNS,
            [[f'{s} {m:%Y-%m}', f'{c.astimezone(timezone.utc):%Y-%m-%d %H:%M}', f] for s, m, c, f in unusual],
        ),
        f'{pipeline}_rows_read_per_month': (
            sorted(read_shown),
            [[round(math.log10(max(read_shown[m][0], 1)), 3) for m in sorted(read_shown)]],
        ),
        f'{pipeline}_what_became_of_the_rows': (sorted(became), [[became[b] for b in sorted(became)]]),
        f'{pipeline}_seconds_per_block': (sorted(per_run), [[per_run[label] for label in sorted(per_run)]]),
        f'{pipeline}_failures_per_day': (sorted(per_day), [[per_day[d] for d in sorted(per_day)]]),
    }


def panel_of(page, chart: dict, charts: dict):
    """The dashboard's panel of `chart`: the innermost element holding its title and an SVG, and
    no other chart's title (a chart that drew nothing has no panel: the assertion names it)."""
    panel = page.locator('div').filter(has=page.get_by_text(chart['name'], exact=True))
    for other in charts.values():
        if other['name'] != chart['name']:
            panel = panel.filter(has_not=page.get_by_text(other['name'], exact=True))
    panel = panel.filter(has=page.locator('svg'))
    assert panel.count() > 0, f'{chart["name"]}: no chart drawn'
    return panel.last


OUTSIDE_ITS_BOX = """(panel) => {
    const inside = (r, box) => r.left >= box.left - 1 && r.right <= box.right + 1 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
    const panelBox = panel.getBoundingClientRect();
    return [...panel.querySelectorAll('*')]
        .filter(e => e.children.length === 0 && e.textContent.trim())
        .filter(e => { const r = e.getBoundingClientRect(); const svg = e.closest('svg');
                       return r.width > 0 && (!inside(r, panelBox) || (svg && !inside(r, svg.getBoundingClientRect()))); })
        .map(e => e.textContent.trim());
}"""


def check_drawn_and_readable(page, chart: dict, charts: dict, values: int) -> None:
    """The chart drew its figures, a bar each; no label or title of it runs out
    of its panel or is cut at its SVG's edge (as Mage's y-axis ticks were, `).3` for 0.3)."""
    panel, configuration = panel_of(page, chart, charts), chart['configuration']
    assert configuration['chart_type'] == 'bar chart', chart['name']
    assert panel.locator('svg rect').count() >= values, f'{chart["name"]}: fewer bars drawn than it has values'
    assert panel.evaluate(OUTSIDE_ITS_BOX) == [], f'{chart["name"]}: labels cut or outside the chart at 1280 px'


def check_table_shown(page, chart: dict, rows: list[list[str]]) -> None:
    """A table chart shows its title and, when it has rows, its columns' names and each row's
    month (an empty one: Mage draws no header)."""
    title = page.get_by_text(chart['name'], exact=True)
    title.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f'dashboard-{chart["uuid"]}.png'))
    assert title.is_visible(), chart['name']
    if not rows:
        return
    for column in chart['configuration']['group_by']:
        assert page.get_by_text(column, exact=True).first.is_visible(), f'{chart["name"]}: no column {column}'
    for month, *_ in rows:
        assert page.get_by_text(month, exact=True).first.is_visible(), f'{chart["name"]}: no row {month}'


@pytest.mark.parametrize('pipeline', AUDITED)
def test_a_pipeline_dashboard_charts_what_load_audit_holds(page, stack, db, pipeline):
    charts = charts_of(stack, pipeline)
    page.set_viewport_size({'width': 1280, 'height': 1000})  # a laptop's screen
    for _ in range(5):  # a load finishing while the page loads changes the truth: look again
        before = audit_snapshot(db)
        received = open_dashboard(page, pipeline, charts)
        blocks = charts[f'{pipeline}_seconds_per_block']['configuration']['blocks']
        expected = expected_audit_charts(db, pipeline, blocks)
        if audit_snapshot(db) == before:
            break
    # the months `make up` loaded are there (the session's other tests load more)
    assert {'green 2020-10', 'yellow 2021-01'} <= set(expected[f'{pipeline}_rows_read_per_month'][0])
    for uuid, chart in charts.items():
        x, y = expected[uuid]
        if chart['configuration']['chart_type'] == 'table':  # its columns, and its rows as they are
            assert (received[uuid]['x'], received[uuid]['y']) == (x, y), received[uuid]
            check_table_shown(page, chart, y)
            continue
        assert received[uuid]['x'] == x, uuid
        assert len(received[uuid]['y']) == len(y), uuid
        for got, want in zip(received[uuid]['y'], y, strict=False):
            assert got == pytest.approx(want, abs=0.011), uuid  # seconds, %: rounded to 0.01 by each side
        check_drawn_and_readable(page, chart, charts, len(x) * len(y))
    # a small month shows beside a large one: yellow's 1,197 rows are more than half green's 95,120 bar
    (logs,) = received[f'{pipeline}_rows_read_per_month']['y']
    sizes = dict(zip(received[f'{pipeline}_rows_read_per_month']['x'], logs, strict=False))
    assert sizes['yellow 2021-01'] / sizes['green 2020-10'] > 0.5
    # the failed runs charted are Mage's own failed runs of the pipeline (each has its audit row;
    # the session's runs are all of its last days, which the chart shows)
    failed_in_mage = sum(r['status'] == 'failed' for r in stack.mage.runs(pipeline))
    x, (counts,) = expected[f'{pipeline}_failures_per_day']
    charted = sum(n for label, n in zip(x, counts, strict=False) if label.endswith(' failed'))
    assert charted == failed_in_mage, (
        f'{charted} failed runs charted, {failed_in_mage} in Mage (a run that failed while PostgreSQL was down '
        'has no audit row: did test_recovery stop before its retry completed its run?)'
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f'dashboard-{pipeline}.png'), full_page=True)


@pytest.mark.parametrize('pipeline', MARTS)
def test_a_marts_dashboard_charts_the_zones_of_its_month(page, stack, db, pipeline):
    """Revenue and trips of the month in the pipeline's variables (yellow 2021-01), top 15 zones
    by revenue; both warehouses were built from the same month, so PostgreSQL's mart is the truth."""
    variables = yaml.safe_load((stack.checkout / 'pipelines' / pipeline / 'metadata.yaml').read_text())['variables']
    month = date(int(variables['year']), int(variables['month']), 1)
    zones = query(
        db,
        'SELECT revenue_zone, revenue_monthly_total_amount, total_monthly_trips FROM '
        'ny_taxi.dm_monthly_zone_revenue WHERE revenue_month = %s AND service_type = %s',
        (month, variables['service'].capitalize()),
    )
    top = sorted(zones, key=lambda z: (-z[1], z[0]))[:15]
    assert len(top) == 15
    charts = charts_of(stack, pipeline)
    page.set_viewport_size({'width': 1280, 'height': 1000})
    received = open_dashboard(page, pipeline, charts)
    revenue, trips = received[f'{pipeline}_zone_revenue'], received[f'{pipeline}_zone_trips']
    assert dict(zip(revenue['x'], revenue['y'][0], strict=False)) == pytest.approx(
        {z: round(float(r), 2) for z, r, _ in top}
    )
    assert dict(zip(trips['x'], trips['y'][0], strict=False)) == {z: t for z, _, t in top}
    for chart in charts.values():
        check_drawn_and_readable(page, chart, charts, 15)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f'dashboard-{pipeline}.png'), full_page=True)
