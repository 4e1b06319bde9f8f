"""`make gcp-setup` (utils/steps/gcp_setup.py): on the real emulators what they can produce (create,
idempotence, a bucket or dataset in another location, a dashed name); what only real GCP
produces (a bucket name someone else has, an account without a role) is tested as the request we
send and the answer GCP gives, from a stand-in HTTP server on loopback: we say so there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from conftest import REPO

from utils.steps.gcp_setup import (
    NEEDED,
    SetupRefused,
    Target,
    can_read,
    check_names,
    check_permissions,
    ensure_bucket,
    ensure_dataset,
)


@pytest.fixture()
def emulators(gcs_emulator, bigquery_emulator, monkeypatch):
    """The local profile on the emulators, with names no other test uses; yields (target, messages)."""
    suffix = uuid.uuid4().hex[:8]
    target = Target('local-project', f'nyc-taxi-setup-{suffix}', f'ny_taxi_setup_{suffix}', 'US')
    for key, value in {
        'IO_CONFIG_PROFILE': 'local',
        'GOOGLE_PROJECT_ID': target.project,
        'GCS_BUCKET': target.bucket,
        'BIGQUERY_DATASET': target.dataset,
        'GOOGLE_LOCATION': target.location,
        'GCS_EMULATOR_URL': gcs_emulator[0],
        'BIGQUERY_EMULATOR_URL': bigquery_emulator,
    }.items():
        monkeypatch.setenv(key, value)
    return target


def clients():
    from utils.sinks.environment import bigquery_client, storage_client

    return storage_client(), bigquery_client()


def test_creates_the_bucket_and_dataset_once_and_then_leaves_them(emulators):
    gcs, bq = clients()
    said: list[str] = []
    for _ in range(2):
        ensure_bucket(gcs, emulators, said.append)
        ensure_dataset(bq, emulators, said.append)
    assert said == [
        f'created bucket gs://{emulators.bucket} in US-CENTRAL1',  # fake-gcs-server's one location
        f'created dataset local-project.{emulators.dataset} in US',
        f'bucket gs://{emulators.bucket} is there, in US-CENTRAL1',
        f'dataset local-project.{emulators.dataset} is there, in US',
    ]
    assert [b.name for b in gcs.list_buckets()].count(emulators.bucket) == 1


def test_a_bucket_in_another_location_is_refused(emulators):
    gcs, _bq = clients()
    in_eu = Target(emulators.project, emulators.bucket, emulators.dataset, 'EU')
    with pytest.raises(
        SetupRefused,
        match=rf'bucket gs://{emulators.bucket} is in US-CENTRAL1 and GOOGLE_LOCATION is '
        'EU: BigQuery cannot read and write in different locations',
    ):
        ensure_bucket(gcs, in_eu, print)


def test_a_dataset_in_another_location_is_refused(emulators):
    from google.cloud import bigquery

    _gcs, bq = clients()
    spec = bigquery.Dataset(f'{emulators.project}.{emulators.dataset}')
    spec.location = 'EU'
    bq.create_dataset(spec)
    with pytest.raises(
        SetupRefused,
        match=rf'dataset local-project.{emulators.dataset} is in EU and GOOGLE_LOCATION '
        'is US: a dataset cannot move',
    ):
        ensure_dataset(bq, emulators, print)


@pytest.mark.parametrize(
    'field, value, message',
    [
        ('dataset', 'ny-taxi', "BIGQUERY_DATASET='ny-taxi' has a dash: .* use 'ny_taxi'"),
        ('dataset', 'ny taxi', "BIGQUERY_DATASET='ny taxi': BigQuery dataset names take letters"),
        ('bucket', 'My_Bucket', "GCS_BUCKET='My_Bucket': bucket names are 3-63 lowercase"),
        ('bucket', 'google-taxi', 'GCS_BUCKET=\'google-taxi\'.* do not start with "goog"'),
        ('location', '', 'GOOGLE_LOCATION is empty: set it in .env'),
    ],
)
def test_bad_names_are_refused_before_any_request(field, value, message):
    target = Target(
        **{**{'project': 'p', 'bucket': 'nyc-taxi-b', 'dataset': 'ny_taxi', 'location': 'US'}, field: value}
    )
    with pytest.raises(SetupRefused, match=message):
        check_names(target)


def test_make_gcp_setup_refuses_a_dashed_dataset_naming_it(tmp_path):
    """The command itself, on the gcp profile with no credentials at all: the name is checked first,
    so the refusal comes before any request (the machine has no route to Google anyway)."""
    env = {
        **os.environ,
        'IO_CONFIG_PROFILE': 'gcp',
        'BIGQUERY_DATASET': 'ny-taxi',
        'GCS_BUCKET': 'nyc-taxi-x',
        'GOOGLE_PROJECT_ID': 'my-project',
        'GOOGLE_LOCATION': 'EU',
        'GOOGLE_SERVICE_ACC_KEY_FILEPATH': '',
        'PYTHONPATH': str(REPO),
    }
    done = subprocess.run(
        [sys.executable, 'scripts/ops/gcp_setup.py'], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        "[gcp-setup] refused: BIGQUERY_DATASET='ny-taxi' has a dash: BigQuery dataset names take letters, "
        "digits and underscores only; use 'ny_taxi'"
    ) in done.stderr


@pytest.mark.parametrize(
    'case, expected',
    [
        (('US', 'US-CENTRAL1'), True),
        (('us', 'US'), True),
        (('EU', 'EUROPE-WEST1'), True),
        (('EU', 'EUR4'), True),
        (('EU', 'US-CENTRAL1'), False),
        (('europe-west1', 'EUROPE-WEST1'), True),
        (('europe-west1', 'EU'), False),
        (('US-CENTRAL1', 'US'), False),
    ],
)
def test_which_bucket_locations_a_dataset_reads(case, expected):
    assert can_read(*case) is expected


# --- what only real GCP answers: a stand-in server answering as GCP does (not GCP itself) ---------


class StandIn:
    """A loopback HTTP server that records each request and answers `reply(method, path, body)`."""

    def __init__(self, reply):
        self.requests: list[tuple[str, str, dict]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = json.loads(self.rfile.read(length) or b'{}') if length else {}
                stand_in.requests.append((self.command, self.path, body))
                status, payload = reply(self.command, self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def gcs_error(status: int, message: str) -> dict:
    return {'error': {'code': status, 'message': message, 'errors': [{'message': message}]}}


@pytest.mark.parametrize(
    'bucket_get, bucket_post',
    [
        # GCS answers 403 to a bucket of another project that the caller cannot see...
        ((403, gcs_error(403, 'sa@p.iam.gserviceaccount.com does not have storage.buckets.get access')), None),
        # ... and 409 to creating a name that exists anywhere
        (
            (404, gcs_error(404, 'The specified bucket does not exist.')),
            (409, gcs_error(409, 'Your previous request to create the named bucket succeeded and you already own it.')),
        ),
    ],
)
def test_a_bucket_name_taken_by_another_project_is_refused(bucket_get, bucket_post):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    def reply(method, path, body):
        return bucket_get if method == 'GET' else bucket_post

    gcs_stand_in = StandIn(reply)
    try:
        client = storage.Client(
            project='my-project',
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=gcs_stand_in.url),
        )
        with pytest.raises(
            SetupRefused,
            match=r"bucket name 'taxi-data' is taken by another project \(bucket names "
            r'are global across all of Google Cloud\): set GCS_BUCKET to another',
        ):
            ensure_bucket(client, Target('my-project', 'taxi-data', 'ny_taxi', 'EU'), print)
    finally:
        gcs_stand_in.close()
    assert gcs_stand_in.requests[0][:2] == ('GET', '/storage/v1/b/taxi-data?projection=noAcl&prettyPrint=false')
    if bucket_post:
        method, path, body = gcs_stand_in.requests[1]
        assert (method, path.split('?')[0], body['name'], body['location']) == (
            'POST',
            '/storage/v1/b',
            'taxi-data',
            'EU',
        )


def test_an_account_without_a_role_is_told_which_role_and_permission():
    """Cloud Resource Manager's testIamPermissions answers with the subset the caller has."""
    granted = set(NEEDED) - {'bigquery.jobs.create', 'storage.buckets.create'}

    def reply(method, path, body):
        return 200, {'permissions': sorted(p for p in body['permissions'] if p in granted)}

    iam = StandIn(reply)
    try:
        with pytest.raises(SetupRefused) as refused:
            check_permissions(requests.Session(), 'my-project', 'sa@my-project.iam.gserviceaccount.com', iam.url)
    finally:
        iam.close()
    assert iam.requests == [('POST', '/v1/projects/my-project:testIamPermissions', {'permissions': sorted(NEEDED)})]
    assert str(refused.value) == (
        "sa@my-project.iam.gserviceaccount.com lacks roles on project 'my-project': Storage Admin "
        '(roles/storage.admin), for storage.buckets.create; BigQuery Job User (roles/bigquery.jobUser), for '
        'bigquery.jobs.create. Grant them in the Console: IAM & Admin > IAM > the account > Edit > Add another role'
    )


def test_an_account_with_every_role_passes():
    iam = StandIn(lambda method, path, body: (200, {'permissions': body['permissions']}))
    try:
        check_permissions(requests.Session(), 'my-project', 'sa@x', iam.url)
    finally:
        iam.close()
