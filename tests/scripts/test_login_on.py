"""The login on (REQUIRE_USER_AUTHENTICATION=1), on real Mage servers: every tool logs in, and the
UI is exposed beyond loopback only when no one can log in with Mage's default password.

Nothing here listens beyond loopback. The refusals are made before anything binds; the exposed
server is started as the compose file starts it (`--exposed-on`: the address the UI would be
reachable on, decided outside the process), listening on 127.0.0.1 with the same checks.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from scripts.mage.mage_api import MageServer
from scripts.mage.mage_session import UI_API_KEY, MageRunError
from scripts.mage.start_mage import MIN_PASSWORD_LENGTH
from scripts.stack.processes import copy_checkout, free_port, port_open, stop_process_group, wait_until

pytestmark = pytest.mark.mage


@pytest.fixture(scope='module')
def login_stack():
    """`make up` with the login on (Mage's default owner admin@admin.com / admin, loopback only),
    running api_to_postgres on both bundled months. Its scheduler ticks once an hour
    (SCHEDULER_TRIGGER_INTERVAL, Mage's default 10 s): every run here starts because the server
    wakes the scheduler when it creates a run, and a worker when it finished one
    (scripts/mage/mage_patches/); with Mage's own loop they would wait up to an hour."""
    from support.stack import start_stack, stop_stack

    started = start_stack(
        REQUIRE_USER_AUTHENTICATION='1', PIPELINES='api_to_postgres', SCHEDULER_TRIGGER_INTERVAL='3600'
    )
    yield started
    problems = stop_stack(started)
    assert not problems, problems


def test_make_up_and_make_backfill_log_in_with_the_login_on(login_stack):
    assert 'Traceback' not in login_stack.up_output
    assert login_stack.up_output.count('[run] OK   api_to_postgres run') == 2, login_stack.up_output
    done = login_stack.make('backfill', PIPELINE='api_to_postgres', SERVICE='green', FROM='2020-10', TO='2020-10')
    assert done.returncode == 0, done.stdout + done.stderr
    assert '2020-10  completed' in done.stdout


def test_runs_made_in_the_server_start_without_waiting_for_a_scheduler_tick(login_stack):
    """The API trigger (make up's two runs too) and a backfill (above) on a scheduler that ticks
    once an hour: each run starts when the server made it, and the next one when a run ends."""
    mage = login_stack.mage
    first = mage.trigger('api_to_postgres', {'service': 'yellow', 'year': 2021, 'month': 1})
    second = mage.trigger('api_to_postgres', {'service': 'green', 'year': 2020, 'month': 10})
    assert [mage.wait(run_id, timeout=600)['status'] for run_id in (first, second)] == ['completed', 'completed']
    log = (login_stack.checkout / '.data' / 'logs' / 'mage.log').read_text()
    assert 'the scheduler preloaded 11 packages for every run' in log


def test_no_metrics_endpoint_unless_a_setting_asks_for_it(login_stack):
    """dev.env's ENABLE_PROMETHEUS=0: Mage serves no /metrics (the session stack turns it on)."""
    assert requests.get(f'{login_stack.mage.base_url}/metrics', timeout=30).status_code == 404


def test_without_a_session_the_api_refuses_everything_but_the_api_trigger(login_stack):
    base = f'http://127.0.0.1:{login_stack.ports["MAGE_PORT"]}/api'
    for path in (
        'pipelines',
        'pipelines/api_to_postgres',
        'pipeline_runs',
        'backfills',
        'files',
        'file_contents/io_config.yaml',
        'users',
    ):
        error = requests.get(f'{base}/{path}', params={'api_key': UI_API_KEY}, timeout=30).json().get('error')
        assert error and error['code'] in (401, 403), (path, error)
    before = (login_stack.checkout / 'io_config.yaml').read_text()
    written = requests.put(
        f'{base}/file_contents/io_config.yaml',
        timeout=30,
        json={'api_key': UI_API_KEY, 'file_content': {'content': 'taken: over'}},
    ).json()
    assert written.get('error') and (login_stack.checkout / 'io_config.yaml').read_text() == before

    # the API trigger's URL carries its own token: the one entry that needs no session
    trigger = login_stack.mage.api_trigger('api_to_postgres')
    url = f'{base}/pipeline_schedules/{trigger["id"]}/pipeline_runs'
    variables = {'pipeline_run': {'variables': {'service': 'green', 'year': 2020, 'month': 10}}}
    before = len(login_stack.mage.runs('api_to_postgres'))
    assert '"pipeline_run"' not in requests.post(f'{url}/not-the-token', json=variables, timeout=30).text
    assert len(login_stack.mage.runs('api_to_postgres')) == before
    run_id = requests.post(f'{url}/{trigger["token"]}', json=variables, timeout=30).json()['pipeline_run']['id']
    assert login_stack.mage.wait(run_id, timeout=600)['status'] == 'completed'


def test_a_wrong_owner_password_is_one_clear_message(login_stack):
    done = login_stack.make(
        'backfill',
        PIPELINE='api_to_postgres',
        SERVICE='green',
        FROM='2020-10',
        TO='2020-10',
        DEFAULT_OWNER_PASSWORD='not-the-password',
    )
    assert done.returncode == 2
    assert (
        '[backfill] error: the Mage server at http://127.0.0.1:' in done.stdout
        and 'requires a login and refused admin@admin.com: "Email/username and/or password invalid." Set '
        'DEFAULT_OWNER_EMAIL and DEFAULT_OWNER_PASSWORD'
        in done.stdout
    ), done.stdout
    assert 'Traceback' not in done.stdout + done.stderr
    with pytest.raises(MageRunError, match=r'refused admin@admin.com'):
        MageServer(login_stack.mage.base_url, password='not-the-password').runs('api_to_postgres')


def test_exposing_a_database_whose_owner_still_has_the_default_password_is_refused(login_stack):
    """The stack's database has Mage's default owner: MAGE_HOST=0.0.0.0 is refused before anything
    binds, naming the user, even with a strong DEFAULT_OWNER_PASSWORD (read only for a new one)."""
    done = login_stack.make('up', MAGE_HOST='0.0.0.0', DEFAULT_OWNER_PASSWORD='a-long-and-new-password')
    assert done.returncode == 2
    assert (
        '[run] error: MAGE_HOST=0.0.0.0 would expose the Mage UI, and the user(s) admin@admin.com of its '
        "database still log in with Mage's default password `admin`: change it first"
    ) in done.stdout, done.stdout
    assert 'nothing was started' in done.stdout


def start_mage(project: Path, port: int, env: dict[str, str], log=subprocess.PIPE) -> subprocess.Popen:
    """scripts/mage/start_mage.py as the compose file runs it, but listening on loopback. A server that
    keeps running writes to `log` (a file): a pipe nobody reads fills up and stops it."""
    return subprocess.Popen(
        [
            str(project / '.venv' / 'bin' / 'python'),
            str(project / 'scripts' / 'mage' / 'start_mage.py'),
            str(project),
            '--host',
            '127.0.0.1',
            '--port',
            str(port),
            '--exposed-on',
            '0.0.0.0',
            '--setting',
            'PUBLISH_ADDRESS',
        ],
        env=env,
        cwd=project,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.fixture()
def fresh_project(tmp_path):
    """A copy of the checkout with no .env and a new, empty Mage database."""
    project = tmp_path / 'nyc-taxi-mage'
    project.mkdir()
    copy_checkout(project)
    (project / '.env').unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith('DEFAULT_OWNER_')}
    env.update(
        {
            'REQUIRE_USER_AUTHENTICATION': '1',
            'POSTGRES_PASSWORD': 'not-the-default',
            'PYTHONPATH': str(project),
            'MAGE_DATA_DIR': str(tmp_path / 'mage'),
        }
    )
    return project, env


@pytest.mark.parametrize(
    'settings, refusal',
    [
        ({'REQUIRE_USER_AUTHENTICATION': '0'}, 'REQUIRE_USER_AUTHENTICATION=0 turns the login off'),
        (
            {'DEFAULT_OWNER_PASSWORD': 'admin'},
            f'DEFAULT_OWNER_PASSWORD has 5 characters: use at least {MIN_PASSWORD_LENGTH}',
        ),
        (
            {'DEFAULT_OWNER_PASSWORD': 'x' * (MIN_PASSWORD_LENGTH - 1)},
            f'DEFAULT_OWNER_PASSWORD has {MIN_PASSWORD_LENGTH - 1} characters: use at least {MIN_PASSWORD_LENGTH}',
        ),
    ],
    ids=['login-off', 'mage-default', 'too-short'],
)
def test_exposing_a_new_database_without_a_real_login_is_refused(fresh_project, settings, refusal):
    project, env = fresh_project
    proc = start_mage(project, free_port(), {**env, **settings})
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, out
    assert out.count('[start_mage] refused: PUBLISH_ADDRESS=0.0.0.0 would ') == 1, out
    assert refusal in out
    assert not (project / '.env').exists()


async def terminal_output(port: int, command: str, token: str | None) -> str:
    """What Mage's terminal websocket answers to `command` (sent as the UI's terminal sends it)."""
    from tornado.websocket import websocket_connect

    ws = await websocket_connect(f'ws://127.0.0.1:{port}/websocket/terminal?term_name=test')
    message = {'command': ['stdin', f'{command}\r'], 'api_key': UI_API_KEY}
    if token:
        message['token'] = token
    await ws.write_message(json.dumps(message))
    seen = ''
    deadline = time.monotonic() + 60
    while 'Unauthorized' not in seen and 'terminal-test-done' not in seen and time.monotonic() < deadline:
        frame = await asyncio.wait_for(ws.read_message(), timeout=60)
        if frame is None:  # closed
            break
        kind, *data = json.loads(frame)
        seen += data[0] if kind == 'stdout' else ''
    ws.close()
    return seen


def test_the_first_exposed_start_generates_the_owner_password_and_only_it_logs_in(fresh_project):
    project, env = fresh_project
    port = free_port()
    log = project.parent / 'start_mage.log'
    with open(log, 'w') as f:
        proc = start_mage(project, port, env, log=f)
    try:
        base = f'http://127.0.0.1:{port}'
        wait_until(lambda: proc.poll() is not None or MageServer(base).ready(), 180, 'Mage')
        assert proc.poll() is None, log.read_text()
        env_file = project / '.env'
        assert env_file.stat().st_mode & 0o777 == 0o600
        settings = dict(
            line.split('=', 1) for line in env_file.read_text().splitlines() if '=' in line and line[0] != '#'
        )
        password = settings['DEFAULT_OWNER_PASSWORD']
        assert len(password) >= 24 and settings['IO_CONFIG_PROFILE'] == 'local'  # dev.env's settings kept

        with pytest.raises(MageRunError, match=r'refused admin@admin.com'):
            MageServer(base).runs('api_to_postgres')  # admin / admin
        owner = MageServer(base, password=password)
        owner.login()
        # nothing ran: the monthly schedules are committed off (test_sensors)
        assert [r['pipeline_schedule_name'] for r in owner.runs('api_to_postgres')] == []

        marker = project / 'terminal-was-used'
        token = _raw(owner.http.cookies['oauth_token'])
        assert 'Unauthorized access to the terminal' in asyncio.run(terminal_output(port, f'touch {marker}', None))
        assert not marker.exists()
        assert 'terminal-test-done' in asyncio.run(
            terminal_output(port, f'touch {marker}; echo terminal-test-done', token)
        )
        wait_until(marker.exists, 30, "the owner's terminal command")  # the same path works with a login
    finally:
        stop_process_group(proc.pid)
        out = log.read_text()
    assert password not in out  # the log says where the password is, never the password
    assert 'saved it in .env as DEFAULT_OWNER_PASSWORD (mode 0600)' in out
    assert not port_open(port)


def _raw(jwt_token: str) -> str:
    """The token inside the JWT the session returns (what the terminal's messages carry)."""
    import base64

    payload = jwt_token.split('.')[1]
    return json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))['token']
