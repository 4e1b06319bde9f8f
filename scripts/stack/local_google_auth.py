"""Google credentials for the emulators, made on this machine: never a real key, never a call to
Google.

Google's own clients as the course calls them (`google.cloud.bigquery.Client()`, Mage's `BigQuery`
io class, `pyarrow.fs.GcsFileSystem()`) insist on credentials even when the emulator hosts are
set: they read a service account key and trade it for a token at the key's `token_uri`. So, with
the local profile, scripts/mage/start_mage.py

    write_local_key(path, project, token_uri)   writes a service account key in Google's JSON form,
                                                its private key generated here, its token_uri
    serve_tokens()                              this address on 127.0.0.1, where a small server
                                                hands out a token that means nothing (the emulators
                                                take any), to whoever asks from this machine

and points GOOGLE_APPLICATION_CREDENTIALS (Google's clients) and GOOGLE_SERVICE_ACC_KEY_FILEPATH
(the course's `dev`/`default` profiles, Mage's templates) at the key. The key grants nothing
anywhere: its account does not exist and only this server accepts it. It lives in Mage's data
folder (out of git) and is written anew at each start.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOKEN = 'local-emulators-only'  # what the server hands out; the emulators do not check it
TOKEN_SECONDS = 3600
CLIENT_EMAIL = 'course@{project}.iam.gserviceaccount.com'


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


def serve_tokens(host: str = '127.0.0.1') -> str:
    """Start the token server on a free port of `host`, in a daemon thread; its token URI."""
    server = ThreadingHTTPServer((host, 0), _TokenHandler)
    threading.Thread(target=server.serve_forever, name='local-google-tokens', daemon=True).start()
    return f'http://{host}:{server.server_address[1]}/token'


def write_local_key(path: Path, project: str, token_uri: str) -> Path:
    """A service account key for `project` whose tokens come from `token_uri` (mode 0600)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    email = CLIENT_EMAIL.format(project=project)
    key = {
        'type': 'service_account',
        'project_id': project,
        'private_key_id': 'local',
        'private_key': pem,
        'client_email': email,
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
