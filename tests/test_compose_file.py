"""The compose file and the Dockerfile as `docker-compose config` reads them (no engine: the
compose path on a real engine is tests/compose/test_compose.py)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO


def docker_compose_config(work: Path, env_lines: str = '') -> dict:
    """`docker-compose config` (Debian's 1.29) on a copy of the project with .env = dev.env
    (plus `env_lines`)."""
    if not shutil.which('docker-compose'):
        pytest.fail('docker-compose is not installed: `make test` installs it (scripts/stack/setup.sh --test)')
    for name in ('docker-compose.yml', 'Dockerfile', 'dev.env'):
        shutil.copy(REPO / name, work / name)
    shutil.copytree(
        REPO / 'scripts' / 'stack' / 'bigquery_emulator',
        work / 'scripts' / 'stack' / 'bigquery_emulator',
        dirs_exist_ok=True,
    )
    (work / '.env').write_text((REPO / 'dev.env').read_text() + env_lines)
    done = subprocess.run(['docker-compose', 'config'], cwd=work, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


@pytest.fixture(scope='module')
def compose_config(tmp_path_factory) -> dict:
    return docker_compose_config(tmp_path_factory.mktemp('compose'))


def published(service: dict) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each published port, in either syntax."""
    out = []
    for port in service.get('ports', []):
        if isinstance(port, dict):
            out.append((port.get('host_ip', ''), int(port['published']), int(port['target'])))
        else:
            host_ip, host_port, target = port.split('/')[0].rsplit(':', 2)
            out.append((host_ip, int(host_port), int(target)))
    return out


def test_compose_file_is_valid_and_wires_mage_to_postgres(compose_config):
    magic, postgres = compose_config['services']['magic'], compose_config['services']['postgres']
    assert magic['environment']['POSTGRES_HOST'] == 'postgres'
    assert magic['command'] == (
        'python /home/src/nyc_taxi_mage/scripts/mage/start_mage.py /home/src/nyc_taxi_mage '
        '--host 0.0.0.0 --exposed-on 127.0.0.1 --setting PUBLISH_ADDRESS --as-project-owner'
    )
    assert (REPO / 'scripts' / 'mage' / 'start_mage.py').is_file()
    assert any(v.endswith(':/home/src/nyc_taxi_mage:rw') for v in magic['volumes'])
    assert ('127.0.0.1', 6789, 6789) in published(magic)
    assert magic['depends_on']['postgres']['condition'] == 'service_healthy'
    assert postgres['environment']['POSTGRES_DB'] == magic['environment']['POSTGRES_DBNAME']
    assert postgres['environment']['POSTGRES_PASSWORD'] == magic['environment']['POSTGRES_PASSWORD']


def test_compose_runs_postgres_with_the_local_servers_bulk_load_settings(compose_config):
    from scripts.stack.local_postgres import BULK_LOAD_SETTINGS

    command = compose_config['services']['postgres']['command']
    assert command[0] == 'postgres'
    assert [c for c in command[1:] if c != '-c'] == list(BULK_LOAD_SETTINGS)


def test_compose_publishes_every_port_on_loopback_only(compose_config):
    ports = {name: published(service) for name, service in compose_config['services'].items()}
    assert {n for n, p in ports.items() if p} == {'magic', 'postgres', 'samples', 'gcs', 'bigquery'}
    assert {ip for p in ports.values() for ip, _, _ in p} == {'127.0.0.1'}


def test_publish_address_publishes_every_port_and_tells_mage(tmp_path):
    config = docker_compose_config(tmp_path, '\nPUBLISH_ADDRESS=0.0.0.0\n')
    services = config['services']
    assert {ip for s in services.values() for ip, _, _ in published(s)} == {'0.0.0.0'}
    assert '--exposed-on 0.0.0.0 --setting PUBLISH_ADDRESS' in services['magic']['command']
    assert services['magic']['environment']['PUBLISH_ADDRESS'] == '0.0.0.0'


def test_compose_runs_the_emulators_for_the_local_profile(compose_config):
    services = compose_config['services']
    magic = services['magic']
    assert magic['environment']['IO_CONFIG_PROFILE'] == 'local'
    assert magic['environment']['GCS_EMULATOR_URL'] == 'http://gcs:4443'
    assert magic['environment']['BIGQUERY_EMULATOR_URL'] == 'http://bigquery:9050'
    assert {'gcs', 'bigquery'} <= set(magic['depends_on'])
    # the BigQuery emulator reads gs://bucket/x from the GCS emulator's files
    gcs_dir = next(v.split(':')[0] for v in services['gcs']['volumes'] if v.endswith(':/storage:rw'))
    assert any(v.startswith(f'{gcs_dir}:/data/gcs') for v in services['bigquery']['volumes'])
    assert (REPO / 'scripts' / 'stack' / 'bigquery_emulator' / 'Dockerfile').is_file()


def test_image_matches_the_pinned_mage():
    pin = re.search(r'^mage-ai==([\d.]+)$', (REPO / 'requirements.txt').read_text(), re.M).group(1)
    dockerfile = (REPO / 'Dockerfile').read_text()
    assert re.search(rf'^FROM mageai/mageai:{re.escape(pin)}$', dockerfile, re.M)
    # the requirements land where they are installed from (the course starter misses the slash)
    copy = re.search(r'^COPY requirements.txt (\S+)$', dockerfile, re.M).group(1)
    assert re.search(rf'pip3 install --no-cache-dir -r {re.escape(copy)} ', dockerfile)
    assert copy == '${USER_CODE_PATH}/requirements.txt'


def test_the_image_keeps_the_base_images_pythonpath():
    env = re.search(r'^ENV PYTHONPATH=(\S+)', (REPO / 'Dockerfile').read_text(), re.M).group(1)
    assert env == '${USER_CODE_PATH}:${PYTHONPATH}'  # mageai/mageai sets PYTHONPATH=:/home/src


def test_compose_ports_are_the_settings_make_run_reads(tmp_path):
    moved = {
        'MAGE_PORT': 16789,
        'POSTGRES_PORT': 15432,
        'MIRROR_PORT': 18765,
        'GCS_PORT': 14443,
        'BIGQUERY_PORT': 19050,
    }
    services = docker_compose_config(tmp_path, ''.join(f'\n{k}={v}' for k, v in moved.items()) + '\n')['services']
    ports = {name: {(host, target) for _, host, target in published(s)} for name, s in services.items()}
    assert ports == {
        'magic': {(16789, 6789)},
        'postgres': {(15432, 5432)},
        'samples': {(18765, 8765)},
        'gcs': {(14443, 4443)},
        'bigquery': {(19050, 9050)},
    }
    from dotenv import dotenv_values

    settings = dotenv_values(REPO / 'dev.env')  # as make run reads it (the URLs follow the ports)
    assert all(settings[k] for k in moved)
    assert settings['GCS_EMULATOR_URL'] == f'http://127.0.0.1:{settings["GCS_PORT"]}'
    assert settings['BIGQUERY_EMULATOR_URL'] == f'http://127.0.0.1:{settings["BIGQUERY_PORT"]}'


def test_compose_keeps_state_in_named_volumes_and_writes_nothing_else_into_the_checkout(compose_config):
    services = compose_config['services']
    binds = {name: [v for v in s.get('volumes', []) if v.startswith(('.', '/'))] for name, s in services.items()}
    assert binds == {
        'magic': [v for v in binds['magic'] if v.endswith(':/home/src/nyc_taxi_mage:rw')],
        'postgres': [],
        'samples': [v for v in binds['samples'] if v.endswith(':/samples:ro')],
        'gcs': [],
        'bigquery': [],
    }
    assert len(binds['magic']) == len(binds['samples']) == 1
    assert 'mage-data:/home/src/mage_data:rw' in services['magic']['volumes']
    assert services['magic']['environment']['MAGE_DATA_DIR'] == '/home/src/mage_data'
    assert services['magic']['environment']['TAXI_WORK_DIR'].startswith('/home/src/mage_data/')
    assert set(compose_config['volumes']) == {'mage-data', 'postgres-data', 'gcs-data', 'bigquery-data'}


def test_a_refused_start_is_not_restarted(compose_config):
    assert compose_config['services']['magic']['restart'] == 'no'


def test_the_build_context_leaves_out_venvs_data_and_git():
    ignored = (REPO / '.dockerignore').read_text().split()
    assert {'.git', '.venv', '.venv-*', '.data', '.env', 'keys'} <= set(ignored)
