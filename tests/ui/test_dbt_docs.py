"""dbt's documentation of the marts as a reader opens it: `make docs` serves the pages of the
session stack's PostgreSQL on loopback, and a real browser (Playwright driving Debian's chromium)
opens the lineage graph of dm_monthly_zone_revenue. Its screenshot: .artifacts/ui/dbt-lineage.png."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from support.browser import ARTIFACTS, BROWSER_ARGS, UI_DEADLINE_MS

from scripts.stack.processes import free_port, http_ok, stop_process_group, wait_until

pytestmark = pytest.mark.mage


@pytest.fixture()
def docs_url(stack):
    """`make docs` of the stack's checkout, serving on a free loopback port, stopped after."""
    port = free_port()
    server = subprocess.Popen(
        ['make', '--no-print-directory', 'docs'],
        cwd=stack.checkout,
        start_new_session=True,
        env={**stack.env, 'DBT_DOCS_PORT': str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: server.poll() is None and http_ok(f'http://127.0.0.1:{port}/index.html'),
            600,
            'make docs serving the pages',
        )
        yield f'http://127.0.0.1:{port}'
    finally:
        stop_process_group(server.pid)


def test_the_lineage_of_the_revenue_mart_opens_in_the_browser(docs_url):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    assert chromium, 'chromium is not installed: `make test` installs it (scripts/stack/setup.sh --test)'
    requests = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=BROWSER_ARGS)
        page = browser.new_page(viewport={'width': 1600, 'height': 1000})
        page.set_default_timeout(UI_DEADLINE_MS)
        page.on('request', lambda r: requests.append(r.url))
        page.goto(f'{docs_url}/#!/model/model.taxi_marts.dm_monthly_zone_revenue', wait_until='networkidle')
        page.get_by_text("The course's monthly revenue per pickup zone").first.wait_for()
        page.get_by_text('The number of trips.').first.wait_for()  # a column's meaning, from the data dictionary
        page.locator('.launcher-btn a').click()  # "View Lineage Graph": the mart and its parents
        page.locator('a[ng-click="showExpanded()"]').click()  # expanded: every ancestor, to the sources
        labels = page.wait_for_function(
            "() => { const el = document.querySelector('#cy'); const cy = el && el._cyreg && el._cyreg.cy;"
            " const names = cy ? cy.nodes().map(n => n.data('label')).filter(Boolean) : [];"
            " return names.includes('fact_trips') && names; }"
        ).json_value()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / 'dbt-lineage.png'))
        browser.close()
    assert set(labels) == {
        'dm_monthly_zone_revenue',
        'int_monthly_zone_revenue',
        'fact_trips',
        'dim_zones',
        'stg_yellow_tripdata',
        'taxi.yellow_trips',
        'taxi.taxi_zone_lookup',
    }, labels
    assert not [u for u in requests if not u.startswith(docs_url) and not u.startswith('data:')], requests
