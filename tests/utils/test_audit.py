"""The audit trail against a real PostgreSQL: one row per attempt, in its own transaction."""

import json
import logging
from datetime import date

import pytest
from conftest import query

from utils.steps import audit

RUN = {'pipeline_uuid': 'api_to_postgres', 'pipeline_run_id': 41, 'block_uuid': 'export_taxi_to_postgres'}
MANIFEST = {
    'service': 'green',
    'year': 2020,
    'month': 10,
    'url': 'http://x/green/green_tripdata_2020-10.csv.gz',
    'bytes': 1_700_000,
    'rows': 95_120,
    'rows_rejected': 2,
    'rows_out': 52_351,
    'dropped': {'passenger_count_missing': 40_000, 'passenger_count_not_positive': 2_767},
}


def rows(pg):
    return query(
        pg,
        'SELECT pipeline_uuid, run_id, block, service, month, source_url, target, bytes, rows_read, '
        'rows_rejected, rows_kept, rows_dropped, rows_loaded, status, error, '
        'finished_at >= started_at FROM ny_taxi.load_audit ORDER BY id',
    )


def test_a_succeeded_attempt_leaves_one_row_with_its_counts(pg):
    with audit.attempt(
        RUN, 'ignored: the run names the block', date(2020, 10, 1), MANIFEST, 'ny_taxi.green_taxi_data'
    ) as outcome:
        outcome['result'] = {**MANIFEST, 'rows_loaded': 52_351}
    assert rows(pg) == [
        (
            'api_to_postgres',
            41,
            'export_taxi_to_postgres',
            'green',
            date(2020, 10, 1),
            MANIFEST['url'],
            'ny_taxi.green_taxi_data',
            1_700_000,
            95_120,
            2,
            52_351,
            MANIFEST['dropped'],
            52_351,
            'succeeded',
            None,
            True,
        )
    ]


def test_a_failed_attempt_leaves_its_row_and_its_error_goes_on(pg):
    with (
        pytest.raises(RuntimeError, match='the server went away'),
        audit.attempt({}, 'export_taxi_to_postgres', date(2020, 10, 1), MANIFEST, 'ny_taxi.green_taxi_data'),
    ):
        with pg.cursor() as cur:  # what the load wrote is rolled back by the load, not by the audit
            cur.execute('SELECT 1')
        raise RuntimeError('the server went away')
    (row,) = rows(pg)
    assert row[:3] == (None, None, 'export_taxi_to_postgres')  # `mage run`: no Mage run id
    assert row[12:15] == (None, 'failed', 'RuntimeError: the server went away')
    assert row[10] == 52_351  # the counts known before the attempt


def test_postgres_unreachable_the_attempt_stands_and_the_log_says_why(pg, monkeypatch, caplog):
    monkeypatch.setenv('POSTGRES_PORT', '1')  # nothing listens there: a real refused connection
    caplog.set_level(logging.WARNING, logger='utils.steps.audit')
    with audit.attempt(RUN, 'x', date(2020, 10, 1), MANIFEST) as outcome:
        outcome['result'] = {**MANIFEST, 'rows_loaded': 1}
    assert (
        'the audit row of export_taxi_to_postgres for green 2020-10 was not written: ConfigError: '
        'cannot connect to PostgreSQL' in caplog.text
    )
    with pytest.raises(ValueError, match='the load failed'), audit.attempt(RUN, 'x', date(2020, 10, 1), MANIFEST):
        raise ValueError('the load failed')


def test_the_table_refuses_an_unknown_status(pg):
    def row(**values):
        at = '2020-01-01T00:00:00Z'
        base = {'block': 'b', 'service': 'green', 'month': date(2020, 1, 1), 'started_at': at, 'finished_at': at}
        return {**dict.fromkeys(audit.COLUMNS), **base, **values}

    audit.write_row(row(status='succeeded', rows_dropped={'a': 1}))
    assert json.loads(json.dumps(query(pg, 'SELECT rows_dropped FROM ny_taxi.load_audit')[0][0])) == {'a': 1}
    with pytest.raises(Exception, match='load_audit_status_check'):
        audit.write_row(row(status='maybe'))


def test_a_table_made_before_skips_existed_gains_their_column_and_status(pg):
    """load_audit as an older version of the project made it (no source_version, two statuses):
    a skip's row is written, the table gains what it lacks, old rows stay."""
    with pg.cursor() as cur:
        cur.execute(
            'CREATE SCHEMA IF NOT EXISTS ny_taxi; CREATE TABLE ny_taxi.load_audit (id BIGSERIAL PRIMARY KEY, '
            'pipeline_uuid TEXT, run_id BIGINT, block TEXT NOT NULL, service TEXT NOT NULL, month DATE NOT NULL, '
            'source_url TEXT, target TEXT, bytes BIGINT, rows_read BIGINT, rows_rejected BIGINT, rows_kept BIGINT, '
            'rows_dropped JSONB, rows_loaded BIGINT, started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ NOT '
            "NULL, status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')), error TEXT); "
            'INSERT INTO ny_taxi.load_audit (block, service, month, started_at, finished_at, status) '
            "VALUES ('load_taxi_csv', 'fhv', '2019-01-01', now(), now(), 'succeeded')"
        )
    pg.commit()
    audit.record_skip(
        {**RUN, 'block_uuid': 'load_taxi_csv'},
        'load_taxi_csv',
        date(2019, 1, 1),
        {
            'service': 'fhv',
            'url': 'http://x/fhv/fhv_tripdata_2019-01.csv.gz',
            'rows_out': 100,
            'source_version': 'etag "abc"',
        },
    )
    assert query(pg, 'SELECT status, source_version, rows_kept FROM ny_taxi.load_audit ORDER BY id') == [
        ('succeeded', None, None),
        ('skipped', 'etag "abc"', 100),
    ]


def test_the_last_loads_of_a_month_newest_first_with_what_their_exports_kept(pg):
    for run_id, version in ((7, 'etag "v1"'), (8, 'etag "v2"')):
        loader = {**RUN, 'pipeline_run_id': run_id, 'block_uuid': 'load_taxi_csv'}
        with audit.attempt(loader, 'load_taxi_csv', date(2020, 10, 1), {**MANIFEST, 'source_version': version}) as out:
            out['result'] = {**MANIFEST, 'source_version': version}
        with audit.attempt({**RUN, 'pipeline_run_id': run_id}, 'x', date(2020, 10, 1), MANIFEST, 'ny_taxi.t') as out:
            out['result'] = {**MANIFEST, 'rows_out': 50_000 + run_id, 'rows_loaded': 50_000 + run_id}
    assert audit.last_loads('api_to_postgres', 'green', date(2020, 10, 1), 'load_taxi_csv') == [
        audit.LastLoad(8, MANIFEST['url'], 'etag "v2"', 50_008),
        audit.LastLoad(7, MANIFEST['url'], 'etag "v1"', 50_007),
    ]
    assert audit.last_loads('api_to_gcs', 'green', date(2020, 10, 1), 'load_taxi_csv') == []
