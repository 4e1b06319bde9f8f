"""A real HTTP server laid out like the DataTalksClub release, with faults on demand.

Serves files from `root` (<service>/<service>_tripdata_YYYY-MM.csv.gz). A test can register a
fault for one path: an HTTP status (optionally only for the first N requests), a stall before
the body, or a body cut after N bytes. This is the same protocol path the loader uses against
GitHub, not a mock of requests.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Fault:
    status: int | None = None  # answer this status instead of the file
    times: int | None = None  # ... for the first `times` requests only (None: always)
    stall_seconds: float = 0.0  # wait this long after the headers before the body
    cut_after: int | None = None  # send only this many bytes of the body, then close
    bytes_per_second: int | None = None  # send the body no faster than this (a slow link)


class SourceServer:
    def __init__(self, root: Path):
        self.root = root
        self.faults: dict[str, Fault] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                server.requests.append(f'HEAD {self.path}')
                self.answer(with_body=False)

            def do_GET(self):
                server.requests.append(self.path)
                self.answer(with_body=True)

            def answer(self, with_body: bool):
                fault = server.faults.get(self.path)
                if fault and fault.status and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    self.send_response(fault.status)
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                file = (server.root / self.path.lstrip('/')).resolve()
                if not file.is_file() or server.root.resolve() not in file.parents:
                    self.send_response(404)
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                body = file.read_bytes()
                self.send_response(200)
                self.send_header('Content-Type', 'application/octet-stream')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if not with_body:
                    return
                if fault and fault.stall_seconds:
                    time.sleep(fault.stall_seconds)
                if fault and fault.cut_after is not None:
                    self.wfile.write(body[: fault.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if fault and fault.bytes_per_second:
                    step = max(1, fault.bytes_per_second // 10)
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i : i + step])
                        time.sleep(0.1)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f'http://127.0.0.1:{self.httpd.server_address[1]}'

    def __enter__(self) -> SourceServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
