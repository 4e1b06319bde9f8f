"""The course's own module-2 blocks as its videos write them (Mage's templates, filled in), called
as plain functions with Mage's own io classes and this project's io_config.yaml, against a real
PostgreSQL, the GCS emulator and the mirror of the bundled samples:

    load_api_data          pd.read_csv of yellow_tripdata_2021-01.csv.gz, the course's dtypes
    transform_taxi_data    data[data['passenger_count'] > 0]
    taxi_data_to_postgres  Postgres.with_config(ConfigFileLoader(io_config, 'dev'))
                           .export(df, 'ny_taxi', 'yellow_taxi_data', if_exists='replace')

The project has its own ny_taxi.yellow_taxi_data (partitioned by month, other columns). The
course's profiles write to their own database (COURSE_POSTGRES_DBNAME), so what Mage's replace
does there (DELETE FROM first) never reaches the project's rows: checked by fingerprints."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pandas as pd
import psycopg2
import pytest
from conftest import REPO, table_fingerprint
from course_oracle import COURSE_TAXI_DTYPES as COURSE_DTYPES  # the course's load_api_data, as its video types it
from mage_ai.io.bigquery import BigQuery
from mage_ai.io.config import ConfigFileLoader
from mage_ai.io.google_cloud_storage import GoogleCloudStorage
from mage_ai.io.postgres import Postgres

from scripts.mage.start_mage import prepare_course_profiles
from scripts.stack.processes import wait_until
from utils.sinks.course_profiles import course_database, course_dbname, emulator_hosts

IO_CONFIG = str(REPO / 'io_config.yaml')
GOOGLE_VARIABLES = (
    'STORAGE_EMULATOR_HOST',
    'CLOUD_STORAGE_EMULATOR_ENDPOINT',
    'BIGQUERY_EMULATOR_HOST',
    'GOOGLE_APPLICATION_CREDENTIALS',
    'GOOGLE_SERVICE_ACC_KEY_FILEPATH',
)
blocks = importlib.import_module('tests.blocks.test_api_to_postgres_blocks')


def load_api_data(url: str) -> pd.DataFrame:
    parse_dates = ['tpep_pickup_datetime', 'tpep_dropoff_datetime']
    return pd.read_csv(url, sep=',', compression='gzip', dtype=COURSE_DTYPES, parse_dates=parse_dates)


def transform_taxi_data(data: pd.DataFrame) -> pd.DataFrame:
    print(f'Preprocessing: rows with zero passengers: {data["passenger_count"].isin([0]).sum()}')
    return data[data['passenger_count'] > 0]


def export_data_to_postgres(df: pd.DataFrame) -> None:
    schema_name = 'ny_taxi'
    table_name = 'yellow_taxi_data'
    config_path = IO_CONFIG
    config_profile = 'dev'
    with Postgres.with_config(ConfigFileLoader(config_path, config_profile)) as loader:
        loader.export(df, schema_name, table_name, index=False, if_exists='replace')


def project_state(pg) -> tuple:
    return tuple(table_fingerprint(pg, t) for t in ('ny_taxi.yellow_taxi_data', 'ny_taxi.load_audit'))


@pytest.fixture()
def course_db(taxi_env, pg_server):
    """The course's database, made as scripts/mage/start_mage.py makes it, emptied first."""
    admin = pg_server.connect()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS {course_dbname(taxi_env)}')
    admin.close()
    assert course_database(taxi_env) is True
    assert course_database(taxi_env) is False  # already there: left as it is
    conn = pg_server.connect(course_dbname(taxi_env))
    conn.autocommit = True
    yield conn
    conn.close()


def test_the_courses_exporter_fills_its_own_table_and_never_the_projects(pg, taxi_env, course_db):
    blocks.run_chain(blocks.VARIABLES)  # the project's yellow 2021-01 in its own ny_taxi.yellow_taxi_data
    before = project_state(pg)
    assert before[0] is not None and before[0][0] > 0

    url = f'{taxi_env["NYC_TLC_BASE_URL"]}/yellow/yellow_tripdata_2021-01.csv.gz'
    data = transform_taxi_data(load_api_data(url))
    assert len(data) == 1_117  # the 1,197 bundled rows less the 80 with no passengers
    for _ in range(2):  # replace: the second run leaves the same rows, not twice as many
        export_data_to_postgres(data)
        with course_db.cursor() as cur:
            cur.execute('SELECT count(*), sum(total_amount) FROM ny_taxi.yellow_taxi_data')
            count, total = cur.fetchone()
        assert count == len(data) and total == pytest.approx(data['total_amount'].sum())
    assert project_state(pg) == before  # the project's month and audit rows, as they were

    with Postgres.with_config(ConfigFileLoader(IO_CONFIG, 'dev')) as loader:  # the course's SQL loader
        assert loader.load('SELECT 1;').iloc[0, 0] == 1


def test_the_course_profile_cannot_be_pointed_at_the_projects_database(taxi_env, monkeypatch):
    monkeypatch.setenv('COURSE_POSTGRES_DBNAME', taxi_env['POSTGRES_DBNAME'])
    with pytest.raises(ValueError, match="is the project's own database"):
        course_database(dict(taxi_env, COURSE_POSTGRES_DBNAME=taxi_env['POSTGRES_DBNAME']))


def test_the_course_database_unreachable_is_said(taxi_env):
    with pytest.raises(psycopg2.OperationalError):
        course_database(dict(taxi_env, POSTGRES_PORT='1'))


@pytest.fixture()
def mage_server_env(cloud_env, tmp_path, monkeypatch) -> Iterator[dict[str, str]]:
    """The environment scripts/mage/start_mage.py gives the Mage server with the local profile
    (the emulator hosts, the local key and its token server, which makes the __TABLES_SUMMARY__
    view), made by the same function, put into this process's environment."""
    env = {**os.environ, 'MAGE_DATA_DIR': str(tmp_path / 'mage_data')}
    env.pop('GOOGLE_APPLICATION_CREDENTIALS', None)
    server = prepare_course_profiles(str(REPO), env)
    assert server is not None
    for name in (*GOOGLE_VARIABLES, 'MAGE_DATA_DIR'):
        monkeypatch.setenv(name, env[name])
    yield env
    server.terminate()
    server.wait(timeout=30)


def summary_view(env) -> bool:
    from google.api_core.exceptions import NotFound

    from utils.sinks.environment import bigquery_client

    try:
        bigquery_client().get_table(f'{env["GOOGLE_PROJECT_ID"]}.{env["BIGQUERY_DATASET"]}.__TABLES_SUMMARY__')
        return True
    except NotFound:
        return False


def test_the_emulator_hosts_only_with_the_local_profile(cloud_env):
    assert emulator_hosts(cloud_env) == {
        'STORAGE_EMULATOR_HOST': cloud_env['GCS_EMULATOR_URL'],
        'CLOUD_STORAGE_EMULATOR_ENDPOINT': cloud_env['GCS_EMULATOR_URL'],
        'BIGQUERY_EMULATOR_HOST': cloud_env['BIGQUERY_EMULATOR_URL'],
    }
    assert emulator_hosts(dict(cloud_env, IO_CONFIG_PROFILE='gcp')) == {}  # never rerouted on GCP


def test_the_course_profiles_key_path_is_null_when_unset(cloud_env, monkeypatch):
    """Mage renders io_config.yaml with Jinja first: unset, the setting is null (Mage's GCS class
    then builds its client without a key), not an empty path Mage would open as a file."""
    monkeypatch.delenv('GOOGLE_SERVICE_ACC_KEY_FILEPATH', raising=False)
    assert ConfigFileLoader(IO_CONFIG, 'dev').get('GOOGLE_SERVICE_ACC_KEY_FILEPATH') is None
    monkeypatch.setenv('GOOGLE_SERVICE_ACC_KEY_FILEPATH', 'keys/my-creds.json')
    assert ConfigFileLoader(IO_CONFIG, 'dev').get('GOOGLE_SERVICE_ACC_KEY_FILEPATH') == 'keys/my-creds.json'


def test_mages_gcs_template_reaches_the_emulator_with_the_default_profile(mage_server_env):
    """Mage's GCS exporter and loader templates, profile default: the emulator."""
    titanic = pd.DataFrame(
        {'PassengerId': [1, 2, 3], 'Survived': [0, 1, 1], 'Name': ['Braund', 'Cumings', 'Heikkinen']}
    )
    bucket_name, object_key = mage_server_env['GCS_BUCKET'], 'titanic_clean.csv'
    GoogleCloudStorage.with_config(ConfigFileLoader(IO_CONFIG, 'default')).export(titanic, bucket_name, object_key)
    back = GoogleCloudStorage.with_config(ConfigFileLoader(IO_CONFIG, 'default')).load(bucket_name, object_key)
    assert list(back.columns) == ['Unnamed: 0', *titanic.columns]  # Mage's CSV export writes the index
    pd.testing.assert_frame_equal(back[titanic.columns], titanic)


def course_yellow(env) -> pd.DataFrame:
    url = f'{env["NYC_TLC_BASE_URL"]}/yellow/yellow_tripdata_2021-01.csv.gz'
    return transform_taxi_data(load_api_data(url))


def test_googles_clients_as_the_course_calls_them_reach_the_emulators(mage_server_env):
    """The course's API -> GCS partitioned export (pyarrow's GcsFileSystem() with no argument,
    credentials from GOOGLE_APPLICATION_CREDENTIALS), then google.cloud's clients with no
    argument: all on the emulators, with the local key."""
    import pyarrow as pa
    import pyarrow.fs
    import pyarrow.parquet as pq
    from google.cloud import bigquery, storage

    data = course_yellow(mage_server_env)
    data['tpep_pickup_date'] = data['tpep_pickup_datetime'].dt.date
    table = pa.Table.from_pandas(data)
    gcs = pa.fs.GcsFileSystem()
    bucket_name = mage_server_env['GCS_BUCKET']
    pq.write_to_dataset(
        table, root_path=f'{bucket_name}/nyc_taxi_data', partition_cols=['tpep_pickup_date'], filesystem=gcs
    )

    names = [b.name for b in storage.Client().list_blobs(bucket_name, prefix='nyc_taxi_data/')]
    dates = {name.split('tpep_pickup_date=')[1].split('/')[0] for name in names}
    assert dates == {str(d) for d in data['tpep_pickup_date'].unique()} and len(dates) > 1, names
    client = bigquery.Client()
    assert client.project == mage_server_env['GOOGLE_PROJECT_ID']
    assert [tuple(r) for r in client.query('SELECT 1 AS one').result()] == [(1,)]


def test_mages_bigquery_template_exports_and_loads_on_the_emulator(mage_server_env):
    """Mage's BigQuery exporter template (profile default) as the course fills it, twice (replace),
    then its SQL loader: on the emulator, through the __TABLES_SUMMARY__ view start_mage.py makes."""
    wait_until(lambda: summary_view(mage_server_env), 120, 'the __TABLES_SUMMARY__ view of the token server')
    data = course_yellow(mage_server_env)[['VendorID', 'passenger_count', 'trip_distance', 'total_amount']]
    table_id = f'{mage_server_env["GOOGLE_PROJECT_ID"]}.{mage_server_env["BIGQUERY_DATASET"]}.yellow_cab_data'
    for _ in range(2):
        BigQuery.with_config(ConfigFileLoader(IO_CONFIG, 'default')).export(data, table_id, if_exists='replace')
    back = BigQuery.with_config(ConfigFileLoader(IO_CONFIG, 'default')).load(
        f'SELECT count(*) AS n, sum(total_amount) AS total FROM `{table_id}`'
    )
    assert back['n'][0] == len(data) == 1_117
    assert back['total'][0] == pytest.approx(data['total_amount'].sum())


def test_the_token_server_ends_with_the_process_that_started_it(tmp_path):
    """start_mage.py's token server is a process of its own (no thread in Mage's server, which
    forks): when its parent ends, killed or not, it ends too, leaving no process behind."""
    import psutil

    code = (
        'import sys, pathlib; from scripts.stack.local_google_auth import start_local_google; '
        f'key, server = start_local_google(pathlib.Path({str(tmp_path / "key.json")!r}), "local-project", {{}}); '
        'print(server.pid, flush=True); import os; os._exit(0)'
    )
    done = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    server = int(done.stdout.split()[-1])
    wait_until(lambda: not psutil.pid_exists(server) or psutil.Process(server).status() == 'zombie', 30, 'the orphan')
    key = json.loads((tmp_path / 'key.json').read_text())
    assert key['type'] == 'service_account' and key['token_uri'].startswith('http://127.0.0.1:')
