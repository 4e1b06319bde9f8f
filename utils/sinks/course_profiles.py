"""What the course's own profiles (`dev`, `default` in io_config.yaml) need on this machine, for
the blocks a student writes along with the course's videos with Mage's templates:

    course_database(env)     PostgreSQL: the database COURSE_POSTGRES_DBNAME (`course`) exists, on
                             the project's server. The course's exporter writes
                             ny_taxi.yellow_taxi_data with if_exists='replace' (Mage runs
                             `DELETE FROM` first): in its own database it never meets the
                             project's tables of the same name.
    emulator_hosts(env)      with the local profile, the environment variables that send Google's
                             own clients to the emulators: STORAGE_EMULATOR_HOST (google-cloud-
                             storage, so Mage's GoogleCloudStorage), CLOUD_STORAGE_EMULATOR_ENDPOINT
                             (google-cloud-cpp, so pyarrow's GcsFileSystem) and
                             BIGQUERY_EMULATOR_HOST (google-cloud-bigquery, so Mage's BigQuery).
                             Nothing for gcp. Their credentials: scripts/stack/local_google_auth.py.
    tables_summary_view(...) a workaround of the BigQuery emulator's: Mage's BigQuery exporter asks
                             `<dataset>.__TABLES_SUMMARY__` (BigQuery's legacy list of a dataset's
                             tables) whether the table exists; the emulator has no such table,
                             so it gets a view of the same name over INFORMATION_SCHEMA.TABLES.

scripts/mage/start_mage.py calls them before Mage starts, on `make run` and in the container.
"""

from __future__ import annotations

from collections.abc import Mapping

COURSE_DBNAME_SETTING = 'COURSE_POSTGRES_DBNAME'
DEFAULT_COURSE_DBNAME = 'course'


def course_dbname(env: Mapping[str, str]) -> str:
    name = (env.get(COURSE_DBNAME_SETTING) or DEFAULT_COURSE_DBNAME).strip()
    project = (env.get('POSTGRES_DBNAME') or '').strip()
    if name == project:
        raise ValueError(
            f"{COURSE_DBNAME_SETTING}={name} is the project's own database (POSTGRES_DBNAME): the course's "
            'code (if_exists="replace") would empty the project\'s tables of the same name; name another'
        )
    if not name.replace('_', '').isalnum():
        raise ValueError(f'{COURSE_DBNAME_SETTING}={name!r} is not a plain database name (letters, digits, _)')
    return name


def course_database(env: Mapping[str, str]) -> bool:
    """CREATE DATABASE <COURSE_POSTGRES_DBNAME> unless it exists; True when this call made it."""
    import psycopg2
    from psycopg2 import sql

    name = course_dbname(env)
    conn = psycopg2.connect(
        dbname=env['POSTGRES_DBNAME'],
        user=env['POSTGRES_USER'],
        password=env['POSTGRES_PASSWORD'],
        host=env['POSTGRES_HOST'],
        port=int(env['POSTGRES_PORT']),
        connect_timeout=10,
        application_name='nyc-taxi-mage',
    )
    try:
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            cur.execute('SELECT 1 FROM pg_database WHERE datname = %s', (name,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


def emulator_hosts(env: Mapping[str, str]) -> dict[str, str]:
    """{variable: value} for Google's clients to reach the emulators; {} unless the active profile
    is local (never set with gcp: these variables reroute a client whatever its credentials)."""
    if (env.get('IO_CONFIG_PROFILE') or 'local').strip() != 'local':
        return {}
    hosts = {}
    if env.get('GCS_EMULATOR_URL'):
        hosts['STORAGE_EMULATOR_HOST'] = env['GCS_EMULATOR_URL'].rstrip('/')
        hosts['CLOUD_STORAGE_EMULATOR_ENDPOINT'] = env['GCS_EMULATOR_URL'].rstrip('/')
    if env.get('BIGQUERY_EMULATOR_URL'):
        hosts['BIGQUERY_EMULATOR_HOST'] = env['BIGQUERY_EMULATOR_URL'].rstrip('/')
    return hosts


TABLES_SUMMARY = '__TABLES_SUMMARY__'


def tables_summary_view(client, project: str, dataset: str) -> bool:
    """The dataset (made if missing) with a `__TABLES_SUMMARY__` view, as Mage's BigQuery exporter
    reads it (`SELECT 1 FROM <dataset>.__TABLES_SUMMARY__ WHERE table_id = ...`), on the emulator
    only. True when this call made the view."""
    from google.api_core.exceptions import Conflict

    from utils.sinks.bigquery_load import check_names, ensure_dataset

    check_names(project, dataset)
    ensure_dataset(client, project, dataset)
    try:
        client.query(
            f'CREATE VIEW `{project}.{dataset}.{TABLES_SUMMARY}` AS '
            f'SELECT table_name AS table_id FROM `{project}.{dataset}.INFORMATION_SCHEMA.TABLES`'
        ).result()
    except Conflict:  # made at an earlier start
        return False
    return True
