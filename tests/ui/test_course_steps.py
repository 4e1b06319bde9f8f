"""The course's first blocks in the editor, in a real browser, on the session's `make up` stack:
each in a new batch pipeline (clicked: New -> Standard (batch)). The course's SQL data loader is
clicked too (Data loader -> SQL, connection PostgreSQL, profile dev, Use raw SQL, `SELECT 1;`
typed). The others, Mage's Google Cloud Storage loader template (profile default) and the
course's BigQuery SQL blocks, are added through Mage's REST API with the request the editor sends
when a block is added (its type, language, configuration and code). Each is run with its block's
Run button, and its output is read on the page. The pipeline and its block files are removed at
the end."""

from __future__ import annotations

import uuid

import pytest
from support.browser import (  # noqa: F401 - browser, page and tracked_files_left_as_found are fixtures
    RUN_DEADLINE,
    browser,
    innermost,
    page,
    tracked_files_left_as_found,
    wait_for,
)

pytestmark = pytest.mark.mage

GCS_TEMPLATE = """from mage_ai.settings.repo import get_repo_path
from mage_ai.io.config import ConfigFileLoader
from mage_ai.io.google_cloud_storage import GoogleCloudStorage
from os import path
if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader


@data_loader
def load_from_google_cloud_storage(*args, **kwargs):
    config_path = path.join(get_repo_path(), 'io_config.yaml')
    config_profile = 'default'

    bucket_name = '{bucket}'
    object_key = 'titanic_clean.csv'

    return GoogleCloudStorage.with_config(ConfigFileLoader(config_path, config_profile)).load(
        bucket_name,
        object_key,
    )
"""


@pytest.fixture()
def new_pipeline(stack, browser):
    """A new batch pipeline made as the course makes it, in a tab of its own: Pipelines -> New ->
    Standard (batch), a name typed into Mage's dialog, Create; Mage opens its editor. Removed
    afterwards with its block files. The tests ask for it before `page`, so their page is closed
    before the pipeline goes: deleted under an open editor, it left the next editor test without
    its blocks' output (seen)."""
    import re

    mage = stack.mage
    name = f'course step {uuid.uuid4().hex[:6]}'
    tab = browser.new_page(viewport={'width': 1280, 'height': 900})
    try:
        tab.goto(f'http://127.0.0.1:{stack.ports["MAGE_PORT"]}/pipelines', wait_until='networkidle')
        tab.get_by_role('button', name=re.compile(r'\bNew\b')).first.click()
        tab.get_by_text('Standard (batch)', exact=True).first.click()
        tab.get_by_placeholder('Pipeline name...').fill(name)
        tab.get_by_role('button', name='Create', exact=True).click()
        tab.wait_for_url(re.compile(r'/pipelines/[^/?]+/edit'), timeout=RUN_DEADLINE * 1000)
        made = tab.url.split('/pipelines/')[1].split('/')[0]
    finally:
        tab.close()
    assert made == name.replace(' ', '_')
    assert mage._get(f'pipelines/{made}')['pipeline']['type'] == 'python'  # Standard (batch)
    blocks: list[tuple[str, str]] = []
    yield made, blocks
    mage._call('DELETE', f'pipelines/{made}')
    for folder, file in blocks:
        (stack.checkout / folder / file).unlink(missing_ok=True)


def run_the_block(page, block_type: str) -> None:
    """Click the block's Run button (and Execute block, when Mage asks)."""
    header = innermost(
        page, page.get_by_text(block_type, exact=True), page.locator('button:has(div[class^="Circle__"])')
    )
    header.locator('button:has(div[class^="Circle__"])').first.click()
    if page.get_by_text('Execute block', exact=True).count():  # the menu, when Mage offers one
        page.get_by_text('Execute block', exact=True).first.click()


def block_configuration(stack, pipeline: str, block: str) -> dict:
    blocks = stack.mage._get(f'pipelines/{pipeline}')['pipeline']['blocks']
    return next((b['configuration'] for b in blocks if b['uuid'] == block), {})


def test_the_courses_sql_loader_selects_1_with_the_dev_profile(stack, new_pipeline, page):
    """The course's video 2.2.2, clicked as it shows: Data loader -> SQL, a name, Save and add;
    connection PostgreSQL, profile dev, Use raw SQL ticked, `SELECT 1;` typed into the editor; the
    block's Run button; its output is one row, 1."""
    from playwright.sync_api import expect

    pipeline, blocks = new_pipeline
    page.ui(f'/pipelines/{pipeline}/edit')
    page.get_by_role('button', name='Data loader', exact=True).click()
    page.get_by_role('menuitem', name='SQL').click()
    page.get_by_placeholder('Block name...').fill('test_postgres')
    page.get_by_role('button', name='Save and add').click()
    blocks.append(('data_loaders', 'test_postgres.sql'))
    page.locator('select:has(option:text-is("PostgreSQL"))').select_option(label='PostgreSQL')
    page.locator('select:has(option:text-is("dev"))').select_option(label='dev')
    page.locator('label:has-text("Use raw SQL") div[class^="Checkbox__StyledCheckbox"]').click()
    page.locator('.monaco-editor').first.click()
    page.keyboard.press('Control+A')  # Mage's placeholder comment goes
    page.keyboard.type('SELECT 1;')
    wanted = {'data_provider': 'postgres', 'data_provider_profile': 'dev', 'use_raw_sql': True}
    wait_for(  # what was clicked reached the pipeline, by the block's uuid
        "the block's connection, profile and raw SQL",
        lambda: wanted.items() <= block_configuration(stack, pipeline, 'test_postgres').items(),
    )
    run_the_block(page, 'DATA LOADER')
    expect(page.get_by_text('?column?', exact=True).first).to_be_visible(timeout=RUN_DEADLINE * 1000)
    expect(page.get_by_role('cell', name='1', exact=True).first).to_be_visible()  # its one value
    expect(page.get_by_text('1 row x 1 column').first).to_be_visible()
    assert (stack.checkout / 'data_loaders' / 'test_postgres.sql').read_text().strip() == 'SELECT 1;'
    assert 'KeyError' not in page.inner_text('body')


def test_mages_gcs_loader_template_reads_an_object_of_the_emulator(stack, new_pipeline, page):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from playwright.sync_api import expect

    pipeline, blocks = new_pipeline
    bucket = stack.env.get('GCS_BUCKET') or 'nyc-taxi-local'
    emulator = storage.Client(
        project='local-project',
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=f'http://127.0.0.1:{stack.ports["GCS_PORT"]}'),
    )
    emulator.bucket(bucket).blob('titanic_clean.csv').upload_from_string(
        'PassengerId,Survived,Name\n1,0,Braund\n2,1,Cumings\n3,1,Heikkinen\n', content_type='text/csv'
    )
    block = {
        'name': 'load_titanic_from_gcs',
        'type': 'data_loader',
        'language': 'python',
        'content': GCS_TEMPLATE.format(bucket=bucket),
    }
    stack.mage._send('POST', f'pipelines/{pipeline}/blocks', {'block': block})
    blocks.append(('data_loaders', 'load_titanic_from_gcs.py'))
    page.ui(f'/pipelines/{pipeline}/edit')
    run_the_block(page, 'DATA LOADER')
    expect(page.get_by_text('Heikkinen', exact=True).first).to_be_visible(timeout=RUN_DEADLINE * 1000)
    assert 'No valid configuration settings found for Google Cloud Storage' not in page.inner_text('body')


def test_a_sql_loader_with_the_bigquery_connection_queries_the_emulator(stack, new_pipeline, page):
    """The course's SQL block on BigQuery (module 2's "SQL data loader, connection BigQuery, profile
    default"), raw SQL, run with its Run button: Mage's BigQuery class asks the emulator."""
    from playwright.sync_api import expect

    pipeline, blocks = new_pipeline
    block = {
        'name': 'test_bigquery',
        'type': 'data_loader',
        'language': 'sql',
        'configuration': {'data_provider': 'bigquery', 'data_provider_profile': 'default', 'use_raw_sql': True},
        'content': 'SELECT 20 + 22 AS answer;',
    }
    stack.mage._send('POST', f'pipelines/{pipeline}/blocks', {'block': block})
    blocks.append(('data_loaders', 'test_bigquery.sql'))
    page.ui(f'/pipelines/{pipeline}/edit')
    expect(page.get_by_text('SELECT 20 + 22 AS answer;').first).to_be_visible()
    run_the_block(page, 'DATA LOADER')
    expect(page.get_by_text('answer', exact=True).first).to_be_visible(timeout=RUN_DEADLINE * 1000)
    expect(page.get_by_role('cell', name='42', exact=True).first).to_be_visible()
    assert page.get_by_role('option', name='BigQuery', selected=True).count() == 1  # the connection
    assert 'DefaultCredentialsError' not in page.inner_text('body')


CAB_LOADER = """import pandas as pd
if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader


@data_loader
def load_cabs(*args, **kwargs):
    return pd.DataFrame({'vendor_id': [1, 2, 2], 'total_amount': [10.5, 7.25, 3.0]})
"""


def test_the_courses_sql_exporter_writes_a_bigquery_table_from_its_upstream_frame(stack, new_pipeline, page):
    """The course's GCS -> BigQuery step ends with a SQL data exporter: connection BigQuery, profile
    default, schema ny_taxi, table yellow_cab_data, `SELECT * FROM {{ df_1 }}` over its upstream
    block's frame. The loader, then the exporter alone, each with its Run button; the table is then
    read from the emulator."""
    from google.api_core.exceptions import NotFound
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery
    from playwright.sync_api import expect

    pipeline, blocks = new_pipeline
    mage = stack.mage
    loader = {'name': 'load_cabs', 'type': 'data_loader', 'language': 'python', 'content': CAB_LOADER}
    mage._send('POST', f'pipelines/{pipeline}/blocks', {'block': loader})
    blocks.append(('data_loaders', 'load_cabs.py'))
    exporter = {
        'name': 'write_cabs_to_bigquery',
        'type': 'data_exporter',
        'language': 'sql',
        'upstream_blocks': ['load_cabs'],
        'configuration': {
            'data_provider': 'bigquery',
            'data_provider_profile': 'default',
            'data_provider_schema': 'ny_taxi',
            'data_provider_table': 'yellow_cab_data_sql',
            'export_write_policy': 'replace',
        },
        'content': 'SELECT * FROM {{ df_1 }}',
    }
    mage._send('POST', f'pipelines/{pipeline}/blocks', {'block': exporter})
    blocks.append(('data_exporters', 'write_cabs_to_bigquery.sql'))
    client = bigquery.Client(
        project=stack.env.get('GOOGLE_PROJECT_ID') or 'local-project',
        client_options={'api_endpoint': f'http://127.0.0.1:{stack.ports["BIGQUERY_PORT"]}'},
        credentials=AnonymousCredentials(),
    )

    def table_rows():
        try:
            rows = client.query('SELECT vendor_id, total_amount FROM ny_taxi.yellow_cab_data_sql').result()
        except NotFound:
            return None
        return sorted(tuple(r) for r in rows) or None

    page.ui(f'/pipelines/{pipeline}/edit')
    run_the_block(page, 'DATA LOADER')
    expect(page.get_by_text('7.25', exact=True).first).to_be_visible(timeout=RUN_DEADLINE * 1000)
    run_the_block(page, 'DATA EXPORTER')
    assert wait_for("the exporter's table in the emulator", table_rows) == [(1, 10.5), (2, 3.0), (2, 7.25)]
    assert 'upstream blocks have not been executed' not in page.inner_text('body')
