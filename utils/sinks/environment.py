"""The ONE place that knows which environment the pipelines run in.

`IO_CONFIG_PROFILE` (default `local`) picks a profile of io_config.yaml; this module renders
that profile's settings (every secret comes from an environment variable through
`{{ env_var('NAME') }}`) and turns them into clients. Blocks ask this module for a connection;
they never name a profile and never ask "is this the emulator?".

Google clients: a profile with GCS_EMULATOR_URL / BIGQUERY_EMULATOR_URL talks to the local
emulators anonymously; the gcp profile talks to real GCP with the service account key of
GOOGLE_SERVICE_ACC_KEY_FILEPATH or, when that is empty, with Application Default Credentials.
That difference is decided here and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CLOUD_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'
IO_CONFIG_PATH = REPO_ROOT / 'io_config.yaml'
PROFILE_ENV_VAR = 'IO_CONFIG_PROFILE'
COURSE_PROFILES = ('dev', 'default')  # the course's, on a database of their own (utils/sinks/course_profiles.py)
DEFAULT_PROFILE = 'local'
DEFAULT_BASE_URL = 'https://github.com/DataTalksClub/nyc-tlc-data/releases/download'
DEFAULT_TLC_URL = 'https://d37ci6vzurychx.cloudfront.net/trip-data'


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message names the setting and where it comes from."""


class CloudError(RuntimeError):
    """A cloud call failed; the message names the service, bucket, object or table."""


def active_profile() -> str:
    return os.environ.get(PROFILE_ENV_VAR, '').strip() or DEFAULT_PROFILE


@cache
def _raw_profiles(path: str) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f) or {}


@dataclass(frozen=True)
class Profile:
    """One io_config.yaml profile whose values are rendered when they are read."""

    name: str
    raw: dict[str, Any]
    path: Path = IO_CONFIG_PATH

    def get(self, key: str) -> str:
        if key not in self.raw:
            raise ConfigError(f'{self.path.name}: profile {self.name!r} has no setting {key}')
        value = self.raw[key]
        if not isinstance(value, str):
            return '' if value is None else str(value)

        def env_var(name: str, default: str | None = None) -> str:
            found = os.environ.get(name) or default  # env_var('X', '') allows an empty X
            if found is None:
                raise ConfigError(
                    f'{self.path.name}: setting {key} of profile {self.name!r} needs the '
                    f'environment variable {name}, which is not set (see dev.env)'
                )
            return found

        template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(value)
        return template.render(env_var=env_var)


def load_profile(name: str | None = None, path: Path = IO_CONFIG_PATH) -> Profile:
    if name is None and (name := active_profile()) in COURSE_PROFILES:
        raise ConfigError(
            f"{PROFILE_ENV_VAR}={name} is one of the course's profiles ({', '.join(COURSE_PROFILES)}: their own "
            "database, for the blocks you write along with the course); the project's pipelines run on local "
            '(the emulators) or gcp'
        )
    profiles = _raw_profiles(str(path))
    if name not in profiles or not isinstance(profiles[name], dict):
        known = ', '.join(k for k, v in profiles.items() if isinstance(v, dict))
        raise ConfigError(f'{PROFILE_ENV_VAR}={name!r} names no profile in {path.name} (profiles: {known})')
    return Profile(name, profiles[name], path)


def postgres_connect_kwargs(profile: Profile | None = None) -> dict[str, Any]:
    """psycopg2.connect() keyword arguments from the profile's POSTGRES_* settings."""
    p = profile or load_profile()
    port = p.get('POSTGRES_PORT')
    if not port.isdigit():
        raise ConfigError(f'{p.path.name}: POSTGRES_PORT of profile {p.name!r} is not a port: {port!r}')
    return {
        'dbname': p.get('POSTGRES_DBNAME'),
        'user': p.get('POSTGRES_USER'),
        'password': p.get('POSTGRES_PASSWORD'),
        'host': p.get('POSTGRES_HOST'),
        'port': int(port),
        'connect_timeout': int(p.raw.get('POSTGRES_CONNECT_TIMEOUT', 10)),
        'application_name': 'nyc-taxi-mage',
    }


def postgres_schema(profile: Profile | None = None) -> str:
    return (profile or load_profile()).get('POSTGRES_SCHEMA')


def connect_postgres(profile: Profile | None = None):
    """An open psycopg2 connection, or a ConfigError that says where and why it failed."""
    import psycopg2

    kwargs = postgres_connect_kwargs(profile)
    try:
        return psycopg2.connect(**kwargs)
    except psycopg2.OperationalError as e:
        where = f'{kwargs["user"]}@{kwargs["host"]}:{kwargs["port"]}/{kwargs["dbname"]}'
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f'cannot connect to PostgreSQL at {where}: {reason}') from None


@contextmanager
def postgres_connection(profile: Profile | None = None) -> Iterator[Any]:
    """connect_postgres() as a context manager that always closes the connection."""
    conn = connect_postgres(profile)
    try:
        yield conn
    finally:
        conn.close()


def source_base_url(source: str = 'course') -> str:
    """Where a release's monthly files come from: the course's CSV.gz at NYC_TLC_BASE_URL (default
    its GitHub release), the TLC's parquet at TLC_TRIP_DATA_URL (default the TLC's own address)."""
    if source == 'tlc':
        return (os.environ.get('TLC_TRIP_DATA_URL', '').strip() or DEFAULT_TLC_URL).rstrip('/')
    return (os.environ.get('NYC_TLC_BASE_URL', '').strip() or DEFAULT_BASE_URL).rstrip('/')


def default_source() -> str:
    """The release a run reads when its variables name none: TAXI_SOURCE (course or tlc), else course."""
    return os.environ.get('TAXI_SOURCE', '').strip().lower() or 'course'


def _number(name: str, default: str, kind: type = float) -> Any:
    value = os.environ.get(name, '').strip() or default
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f'setting {name}={value!r} is not a {"whole " if kind is int else ""}number') from None


def progress_seconds() -> float:
    """How often a long download or COPY logs how far it got: TAXI_PROGRESS_SECONDS (5)."""
    return _number('TAXI_PROGRESS_SECONDS', '5')


def download_settings() -> dict[str, Any]:
    """utils/domain/taxi_source.download's keywords from the settings: TAXI_HTTP_TIMEOUT (60 s
    without a byte), TAXI_HTTP_RETRIES (3, of 429/5xx answers), TAXI_HTTP_BACKOFF (1: waits of
    1, 2, 4 s between them) and TAXI_PROGRESS_SECONDS."""
    return {
        'timeout': _number('TAXI_HTTP_TIMEOUT', '60'),
        'retries': _number('TAXI_HTTP_RETRIES', '3', int),
        'backoff': _number('TAXI_HTTP_BACKOFF', '1'),
        'progress_seconds': progress_seconds(),
    }


def alert_webhook_url() -> str:
    """The alerts' Slack-compatible webhook (ALERT_WEBHOOK_URL; metadata.yaml's notification_config
    reads the same), '' when there is none. A secret: never logged."""
    return os.environ.get('ALERT_WEBHOOK_URL', '').strip()


def work_dir() -> Path:
    """Where blocks stream their intermediate files (gitignored .data/work by default)."""
    configured = os.environ.get('TAXI_WORK_DIR', '').strip()
    return Path(configured) if configured else REPO_ROOT / '.data' / 'work'


# --- Google Cloud (GCS, BigQuery) ---------------------------------------------------------


@dataclass(frozen=True)
class GoogleTarget:
    """Where the cloud pipelines write: project, bucket, dataset, location."""

    project: str
    bucket: str
    dataset: str
    location: str


def google_target(profile: Profile | None = None) -> GoogleTarget:
    p = profile or load_profile()
    return GoogleTarget(
        project=p.get('GOOGLE_PROJECT_ID'),
        bucket=p.get('GOOGLE_BUCKET'),
        dataset=p.get('GOOGLE_BIGQUERY_DATASET'),
        location=p.get('GOOGLE_LOCATION'),
    )


def bigquery_reads_external_tables(profile: Profile | None = None) -> bool:
    """Real BigQuery does; the emulator does not (no EXTERNAL in its DDL, and an external table made
    through its API is not found by a query: tried on local-bigquery 0.4.0)."""
    return 'BIGQUERY_EMULATOR_URL' not in (profile or load_profile()).raw


def _google_credentials(p: Profile, emulator_key: str):
    """(credentials, client_options) for the emulator named by `emulator_key`, or for GCP."""
    from google.api_core.client_options import ClientOptions

    if emulator_key in p.raw:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials(), ClientOptions(api_endpoint=p.get(emulator_key).rstrip('/'))
    from google.oauth2 import service_account

    key_setting = p.get('GOOGLE_SERVICE_ACC_KEY_FILEPATH')
    if not key_setting:
        return _application_default_credentials(p), None
    # a relative path is the project's (keys/sa.json): the same setting for make run and compose
    key_path = REPO_ROOT / Path(key_setting).expanduser()
    if not key_path.is_file():
        raise ConfigError(
            f'GOOGLE_SERVICE_ACC_KEY_FILEPATH of profile {p.name!r} is {str(key_path)!r}, '
            'which is not a file: download the service account key there'
        )
    try:
        credentials = service_account.Credentials.from_service_account_file(str(key_path), scopes=[CLOUD_SCOPE])
    except (ValueError, KeyError) as e:
        raise ConfigError(f'{key_path} is not a service account key file: {e}') from None
    return credentials, None


def _application_default_credentials(p: Profile):
    """No key file: Google's Application Default Credentials (`gcloud auth application-default
    login`, GOOGLE_APPLICATION_CREDENTIALS, or a GCP VM's service account)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=[CLOUD_SCOPE])
    except DefaultCredentialsError:
        raise ConfigError(
            f'profile {p.name!r} found no Google credentials: set GOOGLE_SERVICE_ACC_KEY_FILEPATH to a service '
            'account key file (e.g. keys/my-sa.json), or log in with `gcloud auth application-default login` '
            '(on a GCP VM, its service account is used)'
        ) from None
    return credentials


def cloud_credentials(profile: Profile | None = None):
    """The Google credentials of a profile on real GCP (key file or ADC); None on the emulators."""
    p = profile or load_profile()
    if 'GCS_EMULATOR_URL' in p.raw:
        return None
    return _google_credentials(p, 'GCS_EMULATOR_URL')[0]


def storage_client(profile: Profile | None = None):
    from google.cloud import storage  # type: ignore[attr-defined]  # google-cloud-storage ships no stubs

    p = profile or load_profile()
    credentials, options = _google_credentials(p, 'GCS_EMULATOR_URL')
    return storage.Client(project=p.get('GOOGLE_PROJECT_ID'), credentials=credentials, client_options=options)


def bigquery_client(profile: Profile | None = None):
    from google.cloud import bigquery

    p = profile or load_profile()
    credentials, options = _google_credentials(p, 'BIGQUERY_EMULATOR_URL')
    return bigquery.Client(
        project=p.get('GOOGLE_PROJECT_ID'),
        credentials=credentials,
        client_options=options,
        location=p.get('GOOGLE_LOCATION'),
    )
