"""`cp dev.env .env && docker compose up`, for real: Debian's dockerd 20.10 and docker-compose
1.29, the project's unmodified compose file and Dockerfiles, on stand-in base images built here
(tests/compose/standins/README.md). What a user does, then what `make run` checks.

Container traffic stays on this machine (support/engine.egress_guard: a DROP rule for packets
forwarded out of the external interface, checked in place; the containers' DNS forwards to
nothing outside the compose network). The checkout copy is owned by an ordinary user (uid 1000),
as a user's clone is: no file in it may end up owned by anyone else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg2
import pytest
import requests
from conftest import GREEN_MONTH, REPO, YELLOW_SAMPLE, open_tmp_dir, query
from course_oracle import course_clean

from scripts.mage.mage_api import MageServer
from scripts.stack.processes import copy_checkout, free_port, port_open
from scripts.stack.run_local import RUNS

pytestmark = [pytest.mark.compose, pytest.mark.mage]
USER = 1000  # the checkout's owner: an ordinary user, not root
PIPELINE_DEADLINE = 900


@pytest.fixture(scope='module')
def engine():
    if os.geteuid() != 0:
        pytest.skip('the compose test installs and starts dockerd and sets iptables rules: it needs root')
    from support.engine import build_standins, egress_guard, running_engine, sh

    logs = open_tmp_dir('nyc-taxi-engine-')
    with running_engine(logs / 'dockerd.log'), egress_guard() as rule:
        assert sh('iptables', '-S', 'DOCKER-USER').stdout.splitlines()[1] == rule  # first: before Docker's own
        started = time.monotonic()
        built = build_standins()
        print(f'stand-ins built in {time.monotonic() - started:.0f} s: {built or "none (cached)"}')
        yield rule


class Compose:
    def __init__(self, checkout: Path, env: dict[str, str]):
        self.checkout, self.env = checkout, env

    def __call__(
        self, *args: str, timeout: float = 3600, check: bool = True, **extra: str
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ['docker-compose', '-f', 'docker-compose.yml', '-f', 'egress.yml', *args],
            cwd=self.checkout,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert done.returncode == 0, f'docker-compose {" ".join(args)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}'
        return done

    def ports(self) -> dict[str, int]:
        return {k: int(self.env[k]) for k in ('MAGE_PORT', 'POSTGRES_PORT', 'MIRROR_PORT', 'GCS_PORT', 'BIGQUERY_PORT')}


EGRESS = """# the test's own: every container's DNS forwards to nothing outside the compose network
version: "3.8"
services:
""" + ''.join(f'  {s}:\n    dns: ["127.0.0.1"]\n' for s in ('magic', 'postgres', 'samples', 'gcs', 'bigquery'))


@pytest.fixture(scope='module')
def compose(engine):
    """A user's clone (uid 1000), `cp dev.env .env` with the offline mirror and every port moved
    to a free one by its setting; `docker-compose build` and `up -d`. Torn down at the end,
    volumes and images of the project included, nothing left running."""
    root = open_tmp_dir('nyc-taxi-compose-')
    checkout = root / 'nyc_taxi_mage'
    checkout.mkdir()
    copy_checkout(checkout)
    for venv in ('.venv', '.venv-bigquery'):
        (checkout / venv).unlink()  # a clone has none
    ports = {name: free_port() for name in ('MAGE_PORT', 'POSTGRES_PORT', 'MIRROR_PORT', 'GCS_PORT', 'BIGQUERY_PORT')}
    (checkout / '.env').write_text(
        (REPO / 'dev.env').read_text()
        + '\nNYC_TLC_BASE_URL=http://samples:8765\n'
        + ''.join(f'{k}={v}\n' for k, v in ports.items())
    )
    (checkout / 'egress.yml').write_text(EGRESS)
    subprocess.run(['chown', '-R', f'{USER}:{USER}', str(root)], check=True)
    from support.engine import extra_ca_certs

    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH',)}
    env.update(
        {k: str(v) for k, v in ports.items()},
        COMPOSE_PROJECT_NAME=f'nyctaxitest{ports["MAGE_PORT"]}',
        EXTRA_CA_CERTS=extra_ca_certs(),
    )
    run = Compose(checkout, env)
    try:
        started = time.monotonic()
        run('build')
        built = time.monotonic() - started
        run('up', '-d')
        mage = MageServer(f'http://127.0.0.1:{ports["MAGE_PORT"]}')
        deadline = time.monotonic() + 300
        while not mage.ready():
            assert time.monotonic() < deadline, run('logs', '--tail', '80', check=False).stdout
            time.sleep(1)
        mage.wait_for_database()
        print(
            f'docker-compose build {built:.0f} s; the UI answered {time.monotonic() - started - built:.0f} s after up -d'
        )
        yield run
    finally:
        run('down', '-v', '--remove-orphans', timeout=600, check=False)  # the images stay: a cache
        shutil.rmtree(root, ignore_errors=True)


def test_the_containers_reach_each_other_and_nothing_outside(compose):
    resolve = 'import socket, sys\nfor n in sys.argv[1:]:\n    try: print(n, socket.gethostbyname(n))\n    except OSError: print(n, "-")'
    done = compose('exec', '-T', 'magic', 'python', '-c', resolve, 'postgres', 'gcs', 'bigquery', 'samples', 'pypi.org')
    answers = dict(line.split() for line in done.stdout.splitlines())
    assert all(answers[n] != '-' for n in ('postgres', 'gcs', 'bigquery', 'samples')), answers
    assert answers['pypi.org'] == '-', answers  # no DNS beyond the compose network


def test_the_pipelines_run_in_the_containers_as_make_run_runs_them(compose):
    mage = MageServer(f'http://127.0.0.1:{compose.ports()["MAGE_PORT"]}')
    results = [
        r
        for pipeline, variables in RUNS  # each load, and the marts run it started
        for r in mage.run_and_its_refresh(pipeline, variables, timeout=PIPELINE_DEADLINE)
    ]
    assert sorted(r.pipeline_uuid for r in results if r.pipeline_uuid.endswith('_marts')) == [
        'bigquery_marts',
        'bigquery_marts',
        'postgres_marts',
        'postgres_marts',
    ]
    results.append(mage.run('green_taxi_etl', {'year': 2020, 'months': [10]}, timeout=PIPELINE_DEADLINE))
    failed = [
        f'{r.describe()}\n' + '\n'.join(mage.block_log(r.pipeline_uuid, r.run_id, b)[-2500:] for b in r.failed_blocks)
        for r in results
        if not r.ok
    ]
    assert not failed, '\n\n'.join(failed)
    # the month loads were done by the project's code on Python 3.10, the real image's
    version = compose('exec', '-T', 'magic', 'python', '-c', 'import sys; print(sys.version_info[:2])').stdout
    assert version.strip() == '(3, 10)'

    with psycopg2.connect(
        host='127.0.0.1', port=compose.ports()['POSTGRES_PORT'], user='root', password='root', dbname='ny_taxi'
    ) as conn:
        yellow, green = len(course_clean(YELLOW_SAMPLE, 'yellow')), len(course_clean(GREEN_MONTH, 'green'))
        assert query(conn, 'SELECT count(*) FROM ny_taxi.yellow_taxi_data') == [(yellow,)]
        assert query(conn, 'SELECT count(*) FROM ny_taxi.green_taxi_data') == [(green,)]
        assert query(conn, 'SELECT count(*) FROM ny_taxi.dim_zones') == [(265,)]
        assert query(conn, 'SELECT count(DISTINCT revenue_month) > 0 FROM ny_taxi.dm_monthly_zone_revenue') == [(True,)]
    gcs = requests.get(
        f'http://127.0.0.1:{compose.ports()["GCS_PORT"]}/storage/v1/b/nyc-taxi-local/o',
        params={'maxResults': 10000},
        timeout=30,
    ).json()
    names = {o['name'] for o in gcs.get('items', [])}
    assert any(n.startswith('nyc_taxi/yellow/') for n in names) and any(n.startswith('green_taxi/') for n in names), (
        sorted(names)[:20]
    )
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    bq = bigquery.Client(
        project='local-project',
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=f'http://127.0.0.1:{compose.ports()["BIGQUERY_PORT"]}'),
    )
    tables = {t.table_id for t in bq.list_tables('ny_taxi')}
    assert {'yellow_tripdata', 'green_tripdata', 'fact_trips', 'dm_monthly_zone_revenue'} <= tables, tables
    # the dashboards' charts, drawn by the server in the container from what the runs wrote
    rows = mage.dashboard_chart('api_to_postgres', 'api_to_postgres_rows_read_per_month')
    assert rows['x'] == ['green 2020-10', 'yellow 2021-01'] and len(rows['y'][0]) == 2, rows  # log10 of rows read
    chart = mage.dashboard_chart('api_to_postgres', 'api_to_postgres_what_became_of_the_rows')
    became = dict(zip(chart['x'], chart['y'][0], strict=False))
    assert became['green 2020-10 kept'] == round(100 * green / 95_120, 2), became
    assert len(mage.dashboard_chart('bigquery_marts', 'bigquery_marts_zone_revenue')['x']) == 15


def test_down_and_up_keep_the_run_history_and_the_data(compose):
    mage = MageServer(f'http://127.0.0.1:{compose.ports()["MAGE_PORT"]}')
    before = sorted(r['id'] for r in mage.runs('api_to_postgres'))
    assert before
    compose('down')
    assert not any(port_open(p) for p in compose.ports().values())
    compose('up', '-d')
    deadline = time.monotonic() + 300
    while not mage.ready():
        assert time.monotonic() < deadline, compose('logs', '--tail', '80', check=False).stdout
        time.sleep(1)
    mage.wait_for_database()
    assert sorted(r['id'] for r in mage.runs('api_to_postgres')) == before
    with psycopg2.connect(
        host='127.0.0.1', port=compose.ports()['POSTGRES_PORT'], user='root', password='root', dbname='ny_taxi'
    ) as conn:
        assert query(conn, 'SELECT count(*) > 0 FROM ny_taxi.yellow_taxi_data') == [(True,)]


def test_the_ui_pages_load_in_the_browser(compose):
    from playwright.sync_api import expect, sync_playwright

    base = f'http://127.0.0.1:{compose.ports()["MAGE_PORT"]}'
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which('chromium'),
            headless=True,
            args=[
                '--no-sandbox',
                '--disable-gpu',
                '--disable-background-networking',
                '--disable-component-update',
                '--disable-sync',
            ],
        )
        page = browser.new_page(viewport={'width': 1600, 'height': 1000})
        page.set_default_timeout(120_000)
        page.goto(f'{base}/pipelines', wait_until='networkidle')
        expect(page.locator('table').first).to_contain_text('api_to_postgres', timeout=120_000)  # waits for it
        run = next(
            r
            for r in MageServer(base).runs('api_to_postgres')  # make up's run, not a waiting schedule's
            if r['pipeline_schedule_name'].startswith('api_to_postgres_on_demand · ')
        )
        page.goto(f'{base}/pipelines/api_to_postgres/runs/{run["id"]}', wait_until='networkidle')
        expect(page.locator('tr', has_text='clean_taxi_trips').first).to_contain_text(
            'clean_taxi_trips', timeout=120_000
        )
        (REPO / '.artifacts' / 'ui').mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(REPO / '.artifacts' / 'ui' / 'compose-run.png'))
        browser.close()


def test_an_exposed_start_refused_stops_once_with_one_message(compose):
    """PUBLISH_ADDRESS on the docker0 bridge (this machine only, yet not loopback) with the
    login off: the magic container says why once and stays stopped."""
    from support.engine import sh

    bridge = sh('ip', '-o', '-4', 'addr', 'show', 'docker0').stdout.split()[3].split('/')[0]
    compose('up', '-d', '--no-deps', 'magic', PUBLISH_ADDRESS=bridge)
    container = compose('ps', '-q', 'magic').stdout.strip()
    deadline = time.monotonic() + 120
    while sh('docker', 'inspect', '-f', '{{.State.Running}}', container).stdout.strip() == 'true':
        assert time.monotonic() < deadline
        time.sleep(1)
    state = sh(
        'docker', 'inspect', '-f', '{{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}} {{.RestartCount}}', container
    ).stdout.split()
    assert state == ['2', 'no', '0'], state  # stopped, and no policy that would start it again
    logs = compose('logs', '--no-color', 'magic').stdout
    assert logs.count(f'[start_mage] refused: PUBLISH_ADDRESS={bridge} would open the Mage UI') == 1, logs[-2000:]
    compose('up', '-d', '--no-deps', 'magic')  # back to loopback for the tests after this one


def test_no_file_in_the_checkout_belongs_to_anyone_but_its_owner(compose):
    others = [
        str(p.relative_to(compose.checkout))
        for p in compose.checkout.rglob('*')
        if p.lstat().st_uid != USER or p.lstat().st_gid != USER
    ]
    assert others == []
