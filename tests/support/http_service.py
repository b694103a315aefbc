"""The lifecycle every local test HTTP service shares: a stdlib server on a free port, in a daemon thread.

Subclasses set `_handler` (their BaseHTTPRequestHandler) and `_owner_attr` (the name under which the
handler finds the service instance), and get start/stop, `with` support and the port.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client dropping an idle keep-alive connection is normal; anything else is still reported.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class HttpService:
    _handler: ClassVar[type[BaseHTTPRequestHandler]]
    _owner_attr: ClassVar[str] = "owner"
    _thread_name: ClassVar[str] = "test-http-service"
    host: str
    _httpd: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        handler = type("Handler", (self._handler,), {self._owner_attr: self})
        httpd = QuietServer((self.host, 0), handler)
        self._httpd = httpd
        # serve_forever checks for shutdown() every poll_interval: 0.5 s by default, paid by every stop().
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name=self._thread_name,
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, f"{type(self).__name__} not started"
        return int(self._httpd.server_address[1])
