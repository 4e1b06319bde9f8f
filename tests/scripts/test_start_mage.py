"""scripts/mage/start_mage.py: the UI is exposed beyond loopback only with the login on."""

import os
import subprocess
import sys

import pytest
from conftest import REPO

from scripts.mage.start_mage import bind_address, exposure_problem, is_loopback


@pytest.mark.parametrize(
    'address, loopback',
    [
        ('127.0.0.1', True),
        ('127.5.0.1', True),
        ('::1', True),
        ('::ffff:127.0.0.1', True),
        ('[::1]', True),
        ('localhost', True),
        ('0.0.0.0', False),
        ('::', False),
        ('::ffff:10.0.0.1', False),
        ('', False),
        ('10.1.2.3', False),
        ('taxi.example', False),
    ],
)
def test_loopback_addresses(address, loopback):
    assert is_loopback(address) is loopback


def test_mage_never_gets_localhost_which_it_binds_to_every_interface():
    assert bind_address('localhost') == bind_address('') == '127.0.0.1'
    assert bind_address('0.0.0.0') == '0.0.0.0'


@pytest.mark.parametrize('auth, refused', [('0', True), ('false', True), ('', True), ('1', False), ('true', False)])
def test_a_non_loopback_address_needs_the_login(auth, refused):
    problem = exposure_problem('MAGE_HOST', '0.0.0.0', {'REQUIRE_USER_AUTHENTICATION': auth})
    assert (problem is not None) is refused
    if refused:
        assert 'MAGE_HOST=0.0.0.0' in problem and f'REQUIRE_USER_AUTHENTICATION={auth}' in problem
    assert exposure_problem('MAGE_HOST', '127.0.0.1', {'REQUIRE_USER_AUTHENTICATION': auth}) is None


def test_unset_login_setting_means_on_as_in_mage():
    assert exposure_problem('MAGE_HOST', '0.0.0.0', {}) is None


def test_publishing_compose_ports_with_the_default_database_password_is_refused():
    env = {'REQUIRE_USER_AUTHENTICATION': '1', 'POSTGRES_PASSWORD': 'root'}
    assert 'POSTGRES_PASSWORD is still the default' in exposure_problem('PUBLISH_ADDRESS', '0.0.0.0', env)
    assert exposure_problem('PUBLISH_ADDRESS', '0.0.0.0', {**env, 'POSTGRES_PASSWORD': 'long-and-random'}) is None


def test_the_compose_start_command_refuses_before_starting_mage():
    """What the `magic` container runs (docker-compose.yml), with PUBLISH_ADDRESS=0.0.0.0."""
    env = {**os.environ, 'REQUIRE_USER_AUTHENTICATION': '0', 'PATH': '/nonexistent'}  # no mage to start
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / 'scripts' / 'mage' / 'start_mage.py'),
            'nyc_taxi_mage',
            '--host',
            '0.0.0.0',
            '--exposed-on',
            '0.0.0.0',
            '--setting',
            'PUBLISH_ADDRESS',
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert 'refused: PUBLISH_ADDRESS=0.0.0.0 would open the Mage UI' in done.stderr


def test_a_generated_owner_password_goes_into_env_mode_600_keeping_the_settings(tmp_path):
    from scripts.mage.start_mage import MIN_PASSWORD_LENGTH, generate_owner_password

    (tmp_path / 'dev.env').write_text('# the login\nDEFAULT_OWNER_PASSWORD=\nPOSTGRES_PORT=5432\n')
    env = {}
    saved = generate_owner_password(str(tmp_path), env)
    assert saved == tmp_path / '.env' and saved.stat().st_mode & 0o777 == 0o600
    lines = saved.read_text().splitlines()
    assert lines == ['# the login', f'DEFAULT_OWNER_PASSWORD={env["DEFAULT_OWNER_PASSWORD"]}', 'POSTGRES_PORT=5432']
    assert len(env['DEFAULT_OWNER_PASSWORD']) >= 2 * MIN_PASSWORD_LENGTH
    again = {}
    generate_owner_password(str(tmp_path), again)  # an existing .env is edited, never replaced by dev.env
    assert again['DEFAULT_OWNER_PASSWORD'] != env['DEFAULT_OWNER_PASSWORD']
    assert saved.read_text().splitlines() == [
        lines[0],
        f'DEFAULT_OWNER_PASSWORD={again["DEFAULT_OWNER_PASSWORD"]}',
        lines[2],
    ]


def test_another_mage_version_is_refused_before_anything_starts(tmp_path):
    """A Python whose mage-ai reports another version (here a second mage-ai distribution's
    metadata, found first on the path, as pip leaves one): start_mage.py (make run's and the
    container's start) and make run's start_all refuse, naming both versions and the setting."""
    dist = tmp_path / 'mage_ai-0.9.81.dist-info'
    dist.mkdir()
    (dist / 'METADATA').write_text('Metadata-Version: 2.1\nName: mage-ai\nVersion: 0.9.81\n')
    env = {**os.environ, 'PYTHONPATH': f'{tmp_path}{os.pathsep}{REPO}'}
    for cmd in (
        [sys.executable, 'scripts/mage/start_mage.py', str(REPO), '--port', '1'],
        [sys.executable, '-c', 'from scripts.stack.run_local import start_all; start_all({})'],
    ):
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        said = done.stdout + done.stderr
        assert done.returncode != 0, said
        assert 'mage-ai 0.9.81 is installed, but scripts/mage/mage_patches/ were checked against mage-ai 0.9.80' in said
        assert 'set ALLOW_MAGE_VERSION=0.9.81 to start it without them' in said


def test_the_allow_setting_names_the_version_it_accepts():
    from scripts.mage.mage_version import CHECKED_MAGE_VERSION, mage_version_problem

    assert mage_version_problem({}, installed=CHECKED_MAGE_VERSION) is None
    assert mage_version_problem({'ALLOW_MAGE_VERSION': '0.9.81'}, installed='0.9.81') is None
    assert 'ALLOW_MAGE_VERSION=0.9.82' in mage_version_problem({'ALLOW_MAGE_VERSION': '0.9.81'}, installed='0.9.82')
    assert mage_version_problem({}) is None  # this venv's mage-ai is the checked one (requirements.txt)


STACKS_SCENARIO = """
import os, signal, subprocess, sys
from pathlib import Path
from scripts.mage.start_mage import dump_stacks_on_sigusr1
folder = Path(sys.argv[1])
ended = subprocess.Popen(['true'])
ended.wait()
folder.mkdir()
(folder / f'{ended.pid}.txt').write_text('')  # an ended process's empty file: goes
(folder / '1.txt').write_text('')  # a live process's (init): stays
dump_stacks_on_sigusr1(folder)
child = os.fork()
if child == 0:  # as Mage's scheduler and each run are forked from the server
    os.kill(os.getpid(), signal.SIGUSR1)
    os._exit(0)
os.waitpid(child, 0)
os.kill(os.getpid(), signal.SIGUSR1)
print(os.getpid(), child, ended.pid)
"""


def test_each_process_writes_its_stacks_to_a_file_of_its_own_and_goes_on(tmp_path):
    """start_mage's SIGUSR1 in a real process and in one forked from it: each writes where its
    threads are to <folder>/<its pid>.txt and goes on; an ended process's empty file is removed."""
    folder = tmp_path / 'stacks'
    done = subprocess.run(
        [sys.executable, '-c', STACKS_SCENARIO, str(folder)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    parent, child, ended = done.stdout.split()
    for pid in (parent, child):
        dump = (folder / f'{pid}.txt').read_text()
        assert dump.startswith('Current thread 0x') and '(most recent call first):' in dump, dump
        assert 'File "<string>", line' in dump, dump  # where it was: the scenario's own line
    assert not (folder / f'{ended}.txt').exists() and (folder / '1.txt').exists()
