"""Serve the web app from a background thread: for notebooks, scripts and tests.

``galmorph serve`` blocks until interrupted; :class:`BackgroundServer` runs the same
app (uvicorn) in a daemon thread of this process and returns once it listens, on a
free port of the loopback interface unless told otherwise.

Example:
    >>> from galmorph.web import BackgroundServer, Gallery, create_app
    >>> with BackgroundServer(create_app(Gallery("emb.parquet"))) as server:  # doctest: +SKIP
    ...     print(server.url)
    http://127.0.0.1:41873
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from galmorph.exceptions import GalmorphError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of ``host`` that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class BackgroundServer:
    """``app`` served by uvicorn in a daemon thread until :meth:`stop` (or the ``with`` ends).

    Args:
        app: an ASGI app, e.g. from :func:`galmorph.web.app.create_app`.
        host: address to listen on (default: this computer only).
        port: port (default: a free one).
        timeout: seconds to wait for the server to listen.

    Raises:
        GalmorphError: when the server has not started after ``timeout`` seconds.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int | None = None,
                 timeout: float = 30.0) -> None:
        import uvicorn

        self.host = host
        self.port = free_port(host) if port is None else port
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=self.port,
                                                     log_level="warning"))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise GalmorphError(f"the web server did not start on {host}:{self.port}")
            time.sleep(0.05)

    def _run(self) -> None:
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot listen
            self._server.run()

    @property
    def url(self) -> str:
        """The server's address, e.g. ``http://127.0.0.1:8000``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to finish its requests and stop; wait up to ``timeout`` seconds."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
