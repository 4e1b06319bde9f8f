import json
import os
import subprocess
import sys

import pytest

from utils.sinks import environment
from utils.sinks.environment import ConfigError, load_profile, postgres_connect_kwargs


def test_active_profile_defaults_to_local(monkeypatch):
    monkeypatch.delenv('IO_CONFIG_PROFILE', raising=False)
    assert environment.active_profile() == 'local'
    monkeypatch.setenv('IO_CONFIG_PROFILE', 'gcp')
    assert load_profile().name == 'gcp'


@pytest.mark.parametrize('course_profile', ['dev', 'default'])
def test_the_course_profiles_are_not_the_projects(monkeypatch, course_profile):
    """dev and default write to the course's own database: the project's pipelines refuse them."""
    monkeypatch.setenv('IO_CONFIG_PROFILE', course_profile)
    with pytest.raises(ConfigError, match=f"IO_CONFIG_PROFILE={course_profile} is one of the course's profiles"):
        load_profile()
    assert load_profile(course_profile).name == course_profile  # named on purpose: read as it is


def test_every_credential_comes_from_an_env_var(taxi_env):
    kwargs = postgres_connect_kwargs()
    assert kwargs['password'] == taxi_env['POSTGRES_PASSWORD']
    assert kwargs['port'] == int(taxi_env['POSTGRES_PORT'])
    raw = load_profile().raw
    for key in ('POSTGRES_PASSWORD', 'POSTGRES_USER', 'POSTGRES_HOST', 'POSTGRES_PORT', 'POSTGRES_DBNAME'):
        assert raw[key] == f"{{{{ env_var('{key}') }}}}"


def test_missing_env_var_names_setting_and_variable(taxi_env, monkeypatch):
    monkeypatch.delenv('POSTGRES_PASSWORD')
    with pytest.raises(
        ConfigError,
        match="setting POSTGRES_PASSWORD of profile 'local' needs the environment variable POSTGRES_PASSWORD",
    ):
        postgres_connect_kwargs()


def test_unknown_profile_lists_the_known_ones(monkeypatch):
    monkeypatch.setenv('IO_CONFIG_PROFILE', 'prod')
    with pytest.raises(
        ConfigError,
        match=r"IO_CONFIG_PROFILE='prod' names no profile in io_config.yaml \(profiles: local, dev, default, gcp",
    ):
        load_profile()


def test_bad_port_is_named(taxi_env, monkeypatch):
    monkeypatch.setenv('POSTGRES_PORT', 'five')
    with pytest.raises(ConfigError, match="POSTGRES_PORT of profile 'local' is not a port: 'five'"):
        postgres_connect_kwargs()


def test_unreachable_postgres_is_named(taxi_env, monkeypatch):
    from scripts.stack.processes import free_port

    port = free_port()
    monkeypatch.setenv('POSTGRES_PORT', str(port))
    with pytest.raises(ConfigError, match=f'cannot connect to PostgreSQL at .*@127.0.0.1:{port}/ny_taxi'):
        environment.connect_postgres()


def test_wrong_password_does_not_leak_it(taxi_env, monkeypatch):
    monkeypatch.setenv('POSTGRES_PASSWORD', 'hunter2-wrong')
    with pytest.raises(ConfigError) as e:
        environment.connect_postgres()
    assert 'password authentication failed' in str(e.value)
    assert 'hunter2' not in str(e.value)


def test_source_base_url(monkeypatch):
    monkeypatch.delenv('NYC_TLC_BASE_URL', raising=False)
    assert environment.source_base_url() == 'https://github.com/DataTalksClub/nyc-tlc-data/releases/download'
    monkeypatch.setenv('NYC_TLC_BASE_URL', 'http://127.0.0.1:8765/')
    assert environment.source_base_url() == 'http://127.0.0.1:8765'


def test_local_profile_builds_anonymous_clients_on_the_emulators(monkeypatch):
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setenv('IO_CONFIG_PROFILE', 'local')
    monkeypatch.setenv('GOOGLE_PROJECT_ID', 'local-project')
    monkeypatch.setenv('GOOGLE_LOCATION', 'US')
    monkeypatch.setenv('GCS_EMULATOR_URL', 'http://127.0.0.1:4443/')
    monkeypatch.setenv('BIGQUERY_EMULATOR_URL', 'http://127.0.0.1:9050')
    storage = environment.storage_client()
    assert isinstance(storage._credentials, AnonymousCredentials)
    assert storage._connection.API_BASE_URL == 'http://127.0.0.1:4443'
    bigquery = environment.bigquery_client()
    assert bigquery._connection.API_BASE_URL == 'http://127.0.0.1:9050'
    assert bigquery.project == 'local-project' and bigquery.location == 'US'


def gcp_client_without_key(tmp_path, extra: dict[str, str]) -> subprocess.CompletedProcess:
    """storage_client() of the gcp profile with no key file, in a process of its own, HOME and the
    gcloud config folder empty; NO_GCE_CHECK: Google's library would otherwise ask the GCE
    metadata server (a link-local address this machine must not send to) whether it is a VM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('GOOGLE_', 'CLOUDSDK_'))}
    env.update(
        {
            'IO_CONFIG_PROFILE': 'gcp',
            'GOOGLE_PROJECT_ID': 'my-project',
            'GOOGLE_LOCATION': 'EU',
            'GCS_BUCKET': 'b',
            'BIGQUERY_DATASET': 'd',
            'GOOGLE_SERVICE_ACC_KEY_FILEPATH': '',
            'HOME': str(tmp_path),
            'CLOUDSDK_CONFIG': str(tmp_path / 'gcloud'),
            'NO_GCE_CHECK': 'true',
            'PYTHONPATH': str(environment.REPO_ROOT),
            **extra,
        }
    )
    code = 'from utils.sinks.environment import storage_client; print(type(storage_client()._credentials).__module__)'
    return subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=120)


def test_gcp_profile_without_a_key_file_uses_application_default_credentials(tmp_path):
    """`gcloud auth application-default login` writes an authorized_user file; with it (here named
    by GOOGLE_APPLICATION_CREDENTIALS) the clients are built without a key file."""
    adc = tmp_path / 'application_default_credentials.json'
    adc.write_text(
        json.dumps(
            {
                'type': 'authorized_user',
                'client_id': 'id.apps.googleusercontent.com',
                'client_secret': 'not-a-secret',
                'refresh_token': 'not-a-token',
            }
        )
    )
    done = gcp_client_without_key(tmp_path, {'GOOGLE_APPLICATION_CREDENTIALS': str(adc)})
    assert done.returncode == 0 and done.stdout.strip() == 'google.oauth2.credentials', done.stderr
    missing = gcp_client_without_key(tmp_path, {})  # no key file, no application default credentials
    assert missing.returncode == 1
    assert (
        "ConfigError: profile 'gcp' found no Google credentials: set GOOGLE_SERVICE_ACC_KEY_FILEPATH to a "
        'service account key file (e.g. keys/my-sa.json), or log in with `gcloud auth application-default '
        'login`'
    ) in missing.stderr, missing.stderr[-2000:]


def test_gcp_profile_needs_a_key_file_that_exists(monkeypatch, tmp_path):
    monkeypatch.setenv('IO_CONFIG_PROFILE', 'gcp')
    monkeypatch.setenv('GOOGLE_PROJECT_ID', 'my-project')
    monkeypatch.setenv('GOOGLE_LOCATION', 'EU')
    monkeypatch.setenv('GOOGLE_SERVICE_ACC_KEY_FILEPATH', str(tmp_path / 'missing.json'))
    with pytest.raises(
        ConfigError, match=r"GOOGLE_SERVICE_ACC_KEY_FILEPATH of profile 'gcp' is '.*missing.json', which is not a file"
    ):
        environment.bigquery_client()
    (tmp_path / 'bad.json').write_text('{"type": "service_account"}')
    monkeypatch.setenv('GOOGLE_SERVICE_ACC_KEY_FILEPATH', str(tmp_path / 'bad.json'))
    with pytest.raises(ConfigError, match=r'bad.json is not a service account key file'):
        environment.storage_client()
    # a relative path is the project's, wherever the process runs (Mage's container: /home/src)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('GOOGLE_SERVICE_ACC_KEY_FILEPATH', 'keys/missing.json')
    with pytest.raises(ConfigError, match=f"is '{environment.REPO_ROOT}/keys/missing.json', which is not a file"):
        environment.storage_client()


def test_gcp_profile_has_no_emulator_settings():
    raw = load_profile('gcp').raw
    assert not [k for k in raw if 'EMULATOR' in k]
    assert raw['GOOGLE_SERVICE_ACC_KEY_FILEPATH'] == "{{ env_var('GOOGLE_SERVICE_ACC_KEY_FILEPATH', '') }}"
