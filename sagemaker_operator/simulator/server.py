"""Serve a :class:`Simulator` over real HTTP, in a daemon thread or in the foreground."""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from .app import SimulatorApp
from .core import Simulator

logger = logging.getLogger(__name__)

_POLL_INTERVAL = 0.05  # seconds; how soon stop() is noticed


def _request_handler() -> type[Any]:
    """moto's request handler (keeps S3 metadata headers intact), logging requests at DEBUG."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietRequestHandler(MotoRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            logger.debug("%s %s", self.requestline, code)

    return QuietRequestHandler


class SimulatorServer:
    """An HTTP server for a simulator: ``with SimulatorServer(sim) as server: server.url``.

    ``port=0`` picks a free port. The socket is bound by :meth:`start` in the caller's thread, so a
    busy port fails there rather than in the background; requests are served on their own threads.
    """

    def __init__(self, simulator: Simulator | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.simulator = simulator if simulator is not None else Simulator()
        self.host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def bind(self) -> SimulatorServer:
        """Open the socket without serving yet, so :attr:`url` is known (useful with ``port=0``)."""
        self._bind()
        return self

    def _bind(self) -> BaseWSGIServer:
        if self._server is None:
            self._server = make_server(
                self.host,
                self._port,
                SimulatorApp(self.simulator),
                threaded=True,
                request_handler=_request_handler(),
            )
        return self._server

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not started")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """Where clients reach the server (a wildcard host is reached through loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> SimulatorServer:
        """Serve in a daemon thread and return at once."""
        if self._thread is not None:
            return self
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever, args=(_POLL_INTERVAL,), name="sagemaker-simulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (from another thread) or KeyboardInterrupt."""
        self._bind().serve_forever(_POLL_INTERVAL)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
