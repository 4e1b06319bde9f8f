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

import pandas as pd
import psycopg2
import pytest
from conftest import REPO, table_fingerprint
from mage_ai.io.config import ConfigFileLoader
from mage_ai.io.google_cloud_storage import GoogleCloudStorage
from mage_ai.io.postgres import Postgres

from utils.sinks.course_profiles import course_database, course_dbname, emulator_hosts

IO_CONFIG = str(REPO / 'io_config.yaml')
COURSE_DTYPES = {  # the course's load_api_data, as its video types it
    'VendorID': pd.Int64Dtype(),
    'passenger_count': pd.Int64Dtype(),
    'trip_distance': float,
    'RatecodeID': pd.Int64Dtype(),
    'store_and_fwd_flag': str,
    'PULocationID': pd.Int64Dtype(),
    'DOLocationID': pd.Int64Dtype(),
    'payment_type': pd.Int64Dtype(),
    'fare_amount': float,
    'extra': float,
    'mta_tax': float,
    'tip_amount': float,
    'tolls_amount': float,
    'improvement_surcharge': float,
    'total_amount': float,
    'congestion_surcharge': float,
}
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


def test_mages_gcs_template_reaches_the_emulator_with_the_default_profile(cloud_env, monkeypatch):
    """Mage's GCS exporter and loader templates, profile default, key path empty: the emulator,
    through the STORAGE_EMULATOR_HOST that start_mage.py sets with the local profile."""
    hosts = emulator_hosts(cloud_env)
    assert hosts == {
        'STORAGE_EMULATOR_HOST': cloud_env['GCS_EMULATOR_URL'],
        'BIGQUERY_EMULATOR_HOST': cloud_env['BIGQUERY_EMULATOR_URL'],
    }
    assert emulator_hosts(dict(cloud_env, IO_CONFIG_PROFILE='gcp')) == {}  # never rerouted on GCP
    for name, value in hosts.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv('GOOGLE_SERVICE_ACC_KEY_FILEPATH', '')
    titanic = pd.DataFrame(
        {'PassengerId': [1, 2, 3], 'Survived': [0, 1, 1], 'Name': ['Braund', 'Cumings', 'Heikkinen']}
    )
    bucket_name, object_key = cloud_env['GCS_BUCKET'], 'titanic_clean.csv'
    GoogleCloudStorage.with_config(ConfigFileLoader(IO_CONFIG, 'default')).export(titanic, bucket_name, object_key)
    back = GoogleCloudStorage.with_config(ConfigFileLoader(IO_CONFIG, 'default')).load(bucket_name, object_key)
    assert list(back.columns) == ['Unnamed: 0', *titanic.columns]  # Mage's CSV export writes the index
    pd.testing.assert_frame_equal(back[titanic.columns], titanic)
