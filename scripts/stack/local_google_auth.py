"""Google credentials for the emulators, made on this machine: never a real key, never a call to
Google.

Google's own clients as the course calls them (`google.cloud.bigquery.Client()`, Mage's `BigQuery`
io class, `pyarrow.fs.GcsFileSystem()`) insist on credentials even when the emulator hosts are
set: they read a service account key and trade it for a token at the key's `token_uri`. So, with
the local profile, scripts/mage/start_mage.py calls start_local_google(), which

    starts this file as a process of its own (never a thread in Mage's server, which forks its
    scheduler: a thread importing modules at that moment would leave the child a held lock): it
    serves, on a free port of 127.0.0.1, a token that means nothing (the emulators take any) to
    whoever asks from this machine; it makes the BigQuery emulator's __TABLES_SUMMARY__ view
    (utils/sinks/course_profiles.py) once the emulator answers; it ends when its parent does;
    writes a service account key in Google's JSON form, its private key generated here, its
    token_uri that server, and returns it with the process.

start_mage then points GOOGLE_APPLICATION_CREDENTIALS (Google's clients) and
GOOGLE_SERVICE_ACC_KEY_FILEPATH (the course's dev/default profiles, Mage's templates) at the key.
The key grants nothing anywhere: its account does not exist and only this server accepts it. It
lives in Mage's data folder (out of git) and is written anew at each start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

TOKEN = 'local-emulators-only'  # what the server hands out; the emulators do not check it
TOKEN_SECONDS = 3600
CLIENT_EMAIL = 'course@{project}.iam.gserviceaccount.com'
SUMMARY_WAIT_SECONDS = 120  # how long the server waits for the BigQuery emulator to make the view


class _TokenHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get('Content-Length') or 0)
        self.rfile.read(length)  # the signed assertion: not checked, nothing is guarded here
        body = json.dumps({'access_token': TOKEN, 'expires_in': TOKEN_SECONDS, 'token_type': 'Bearer'}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per token would drown Mage's log


def start_local_google(key_path: Path, project: str, env: dict[str, str]) -> tuple[Path, subprocess.Popen]:
    """The token server as a process of its own, and the key whose tokens it hands out."""
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), '--serve', str(os.getpid())],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    token_uri = proc.stdout.readline().strip()  # its first and only line on stdout
    proc.stdout.close()
    if not token_uri.startswith('http://127.0.0.1:'):
        proc.kill()
        raise OSError(f'the local token server did not start (it said {token_uri!r})')
    return write_local_key(key_path, project, token_uri), proc


def write_local_key(path: Path, project: str, token_uri: str) -> Path:
    """A service account key for `project` whose tokens come from `token_uri` (mode 0600)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key = {
        'type': 'service_account',
        'project_id': project,
        'private_key_id': 'local',
        'private_key': pem,
        'client_email': CLIENT_EMAIL.format(project=project),
        'client_id': '0',
        'auth_uri': token_uri,
        'token_uri': token_uri,
        'universe_domain': 'googleapis.com',
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f'.{os.getpid()}.tmp')
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(key, f, indent=2)
    temporary.replace(path)
    return path


def _make_tables_summary_view(deadline: float) -> bool:
    """The __TABLES_SUMMARY__ view in BIGQUERY_DATASET of the emulator, tried until `deadline`;
    True once made (or there already)."""
    from utils.sinks.course_profiles import tables_summary_view
    from utils.sinks.environment import bigquery_client, load_profile

    try:
        client = bigquery_client(load_profile('local'))  # anonymous, to BIGQUERY_EMULATOR_URL
        tables_summary_view(client, os.environ['GOOGLE_PROJECT_ID'], os.environ['BIGQUERY_DATASET'])
        return True
    except Exception as e:  # noqa: BLE001  # not up yet: again, until the deadline
        if time.monotonic() > deadline:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f'[local_google_auth] no __TABLES_SUMMARY__ view on the BigQuery emulator: {reason}', file=sys.stderr)
            return True  # said; not tried again
        return False


def serve(parent: int) -> None:
    """Serve tokens on a free port of 127.0.0.1 until `parent` ends; make the view meanwhile."""
    server = HTTPServer(('127.0.0.1', 0), _TokenHandler)
    server.timeout = 1
    print(f'http://127.0.0.1:{server.server_address[1]}/token', flush=True)
    sys.stdout = sys.stderr  # stdout was the parent's pipe, closed once it read the address
    summary_done, deadline = False, time.monotonic() + SUMMARY_WAIT_SECONDS
    while os.getppid() == parent:
        server.handle_request()  # one request, or nothing within server.timeout
        if not summary_done:
            summary_done = _make_tables_summary_view(deadline)


if __name__ == '__main__':
    if sys.argv[1:2] == ['--serve']:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # utils/
        serve(int(sys.argv[2]))
