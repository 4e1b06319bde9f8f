"""The Mage UI, used as a person uses it: a real browser (Playwright driving Debian's chromium,
headless) clicks through the server of the session's `make up` stack. Each test leaves a
screenshot in .artifacts/ui/ (ignored by git)."""

from __future__ import annotations

import calendar
import shutil
import time

import pytest
from conftest import GREEN_MONTH, REPO, query
from course_oracle import course_clean

pytestmark = pytest.mark.mage
ARTIFACTS = REPO / '.artifacts' / 'ui'
BROWSER_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                '--disable-sync']


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if not chromium:
        pytest.fail('chromium is not installed: `make test` installs it (scripts/setup.sh --test)')
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=BROWSER_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, stack, request):
    """A fresh tab on the stack's UI; its screenshot goes to .artifacts/ui/<test>.png."""
    page = browser.new_page(viewport={'width': 1600, 'height': 1000})
    page.set_default_timeout(30_000)
    page.ui = lambda path: page.goto(f"http://127.0.0.1:{stack.ports['MAGE_PORT']}{path}", wait_until='networkidle')
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f'{request.node.name}.png'))
    page.close()


def innermost(scope, *parts, tag: str = 'div'):
    """The innermost `tag` element of `scope` that holds all of `parts` (locators made from the
    page, matched inside each candidate): a row with its label and its box, a block's header."""
    found = scope.locator(tag)
    for part in parts:
        found = found.filter(has=part)
    return found.last


def wait_for_text(page, text: str, timeout: float = 180, reload_every: float = 3) -> None:
    """Wait until `text` is on the page, reloading it as a person presses F5."""
    deadline = time.monotonic() + timeout
    while text not in page.inner_text('body'):
        assert time.monotonic() < deadline, f'{text!r} never appeared on {page.url}'
        page.wait_for_timeout(reload_every * 1000)
        page.reload(wait_until='networkidle')


def wait_for_done(page, row_text: str, timeout: float = 180) -> None:
    """Wait until the run-list row holding `row_text` shows the badge Done (reloading the page);
    fail at once if it shows Failed."""
    deadline = time.monotonic() + timeout
    while True:
        row = page.locator('tr', has_text=row_text)
        status = row.first.inner_text() if row.count() else ''
        if 'Done' in status:
            return
        assert 'Failed' not in status, f'the run {row_text!r} failed: {status}'
        assert time.monotonic() < deadline, f'the run {row_text!r} is not done on {page.url}: {status!r}'
        page.wait_for_timeout(2000)
        page.reload(wait_until='networkidle')


def test_the_pipelines_list_shows_every_pipeline(page):
    page.ui('/pipelines')
    listed = page.inner_text('table')
    for pipeline in sorted(p.name for p in (REPO / 'pipelines').iterdir() if (p / 'metadata.yaml').exists()):
        assert pipeline in listed, listed


def test_run_at_once_with_variables_then_read_the_block_logs(page, stack, db):
    """Triggers -> Run@once, the variables typed in (green 2020-10) -> Run now; the run reaches
    Done in the run list; its clean_taxi_trips logs say how many trips were kept and dropped."""
    before = {r['id'] for r in stack.mage.runs('api_to_postgres')}
    page.ui('/pipelines/api_to_postgres/triggers')
    page.get_by_role('button', name='Run@once').click()
    dialog = innermost(page, page.get_by_text('Run pipeline now'), page.get_by_role('button', name='Run now'))
    for variable, value in {'service': 'green', 'year': '2020', 'month': '10'}.items():
        row = innermost(dialog, page.get_by_text(variable, exact=True), page.get_by_placeholder('Variable value'), tag='tr')
        row.get_by_placeholder('Variable value').fill(value)
    page.get_by_role('button', name='Run now').click()

    deadline = time.monotonic() + 60
    while not (new := [r for r in stack.mage.runs('api_to_postgres') if r['id'] not in before]):
        assert time.monotonic() < deadline, 'Run now started no run'
        time.sleep(1)
    (run,) = new
    page.ui('/pipelines/api_to_postgres/runs')
    wait_for_done(page, run['pipeline_schedule_name'])

    page.ui(f"/pipelines/api_to_postgres/runs/{run['id']}")
    page.locator('tr', has_text='clean_taxi_trips').first.locator('button').first.click()  # its Logs button
    kept = len(course_clean(GREEN_MONTH, 'green'))
    wait_for_text(page, f'kept {kept:,}', timeout=60)
    assert f'cleaned 95,120 rows: kept {kept:,}, dropped ' in page.inner_text('body')
    assert query(db, "SELECT count(*) FROM ny_taxi.green_taxi_data WHERE source_month = '2020-10-01'") == [(kept,)]


def pick_month_start(page, field: int, year: int, month: int) -> None:
    """Open the date picker of the field-th date input and click the 1st of that month."""
    page.get_by_placeholder('YYYY-MM-DD HH:MM').nth(field).click()
    picker = page.locator('.react-calendar')
    for _ in range(200):
        name, shown_year = picker.locator('.react-calendar__navigation__label').inner_text().split()
        shown = (int(shown_year), list(calendar.month_name).index(name))
        if shown == (year, month):
            break
        step = ('prev' if shown > (year, month) else 'next') + ('2' if shown[0] != year else '')
        picker.locator(f'.react-calendar__navigation__{step}-button').click()
    picker.locator('.react-calendar__month-view__days__day:not(.react-calendar__month-view__days__day--neighboringMonth)',
                   has_text='1').first.click()
    page.get_by_role('heading', name='Settings').click()  # closes the picker


def test_a_monthly_backfill_created_in_the_ui(page, stack):
    """Backfills -> Create new backfill -> a date window, interval month, service green -> Save ->
    Start: Mage runs the month and the backfill's page shows it Done."""
    page.ui('/pipelines/api_to_postgres/backfills')
    page.get_by_role('button', name='Create new backfill').click()
    page.wait_for_url('**/backfills/*/edit')
    backfill_id = int(page.url.rstrip('/').split('/')[-2])
    page.get_by_text('Date and time window').click()
    page.get_by_placeholder('Name this backfill').fill('green 2020-10 from the UI')
    pick_month_start(page, 0, 2020, 10)
    pick_month_start(page, 1, 2020, 10)
    page.locator('select').select_option('month')
    page.get_by_placeholder('Number of months between each backfill').fill('1')
    page.get_by_placeholder('New variable UUID').fill('service')
    page.get_by_placeholder('Variable value').last.fill('green')
    page.get_by_role('button', name='Add runtime variable').click()
    page.get_by_role('button', name='Save changes').click()
    page.get_by_role('button', name='Start backfill').click()

    saved = stack.mage._get(f'backfills/{backfill_id}')['backfill']
    assert (saved['interval_type'], saved['interval_units'], saved['variables']['service']) == ('month', 1, 'green')
    assert (saved['start_datetime'][:10], saved['end_datetime'][:10]) == ('2020-10-01', '2020-10-01')
    wait_for_done(page, 'Backfill green 2020-10 from the UI')  # the month's run, in the backfill's run list
    (run,) = stack.mage.backfill_runs(backfill_id)
    assert run['status'] == 'completed' and run['execution_date'].startswith('2020-10-01')
    deadline = time.monotonic() + 30  # the scheduler marks the backfill on its next tick
    while (status := stack.mage._get(f'backfills/{backfill_id}')['backfill']['status']) != 'completed':
        assert time.monotonic() < deadline, status
        time.sleep(1)


def test_the_editor_runs_the_loader_and_shows_the_first_trips(page):
    """The editor's Run block on load_taxi_csv: the month streams to disk, and the block's output
    shows its first rows (as the course's DataFrame loader would) and the manifest."""
    page.ui('/pipelines/api_to_postgres/edit')
    page.wait_for_timeout(2000)
    if page.get_by_text('The kernel has restarted').count():
        page.get_by_role('button', name='Close').click()
    header = innermost(page, page.get_by_text('DATA LOADER', exact=True), page.locator('button:has(div[class^="Circle__"])'))
    header.locator('button:has(div[class^="Circle__"])').first.click()  # "Run block"
    page.get_by_text('1/1 tests passed.').first.wait_for(timeout=120_000)
    page.get_by_text('the first rows of').first.scroll_into_view_if_needed()  # for the screenshot
    output = page.inner_text('body')
    assert 'the first rows of yellow_tripdata_2021-01:' in output  # the pipeline's default month
    assert 'tpep_pickup_datetime' in output and '2021-01-01 00:30:10' in output  # the file's first trip
    assert 'OUTPUT 0' in output and 'yellow_tripdata_2021-01.csv.gz' in output

