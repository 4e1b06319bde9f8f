"""A real TCP proxy that goes away mid-stream: the fault of a server dying during an upload.

It forwards connections to an upstream port until `cut_after` bytes have gone upstream, then
closes every connection and its listening socket, so later requests are refused too.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    def __init__(self, upstream_port: int, cut_after: int):
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.sent = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.is_cut = threading.Event()
        self._listener = socket.create_server(('127.0.0.1', 0))
        self.port = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    def __enter__(self) -> CuttingProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.cut()

    def cut(self) -> None:
        self.is_cut.set()
        for s in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self) -> None:
        while not self.is_cut.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(('127.0.0.1', self.upstream_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, upstream_bound: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if upstream_bound:
                    with self._lock:
                        self.sent += len(chunk)
                        over = self.sent > self.cut_after
                    if over:
                        self.cut()
                        return
                dst.sendall(chunk)
        except OSError:
            pass
