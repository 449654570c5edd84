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


def check_can_listen(host: str, port: int, options: tuple[str, str] = ("--host", "--port")
                     ) -> int:
    """Check that a server can listen on ``host``:``port`` by binding a socket there.

    Args:
        options: what the host and port are called where they were given, for messages.

    Returns:
        ``port``, or for 0 a free port that the system chose.

    Raises:
        GalmorphError: when the host does not resolve, the port is in use, or it may
            not be used (e.g. below 1024 without privileges), naming the option.
    """
    import errno

    host_option, port_option = options
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn chooses
    try:
        addresses = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as err:
        raise GalmorphError(f"{host_option} {host}: cannot listen there ({err})") from None
    family, kind, proto, _, address = addresses[0]
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            probe.bind(address)
            return int(probe.getsockname()[1])
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise GalmorphError(f"port {port} on {host} is in use: choose another with "
                                f"{port_option}") from None
        if err.errno == errno.EACCES:
            raise GalmorphError(f"port {port} on {host} needs privileges: choose one from "
                                f"1024 with {port_option}") from None
        raise GalmorphError(f"cannot listen on {host} port {port} ({host_option}, "
                            f"{port_option}): {err.strerror or err}") from None


class BackgroundServer:
    """``app`` served by uvicorn in a daemon thread until :meth:`stop` (or the ``with`` ends).

    Args:
        app: an ASGI app, e.g. from :func:`galmorph.web.app.create_app`.
        host: address to listen on (default: this computer only).
        port: port (default: a free one).
        timeout: seconds to wait for the server to listen.

    Raises:
        GalmorphError: when the host does not resolve or the port is in use (saying so),
            or the server has not started after ``timeout`` seconds.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int | None = None,
                 timeout: float = 30.0) -> None:
        import uvicorn

        self.host = host
        try:
            self.port = check_can_listen(host, port or 0, ("host", "port"))
        except GalmorphError as err:
            raise GalmorphError(f"the web server did not start on {host}:{port or 0}: "
                                f"{err}") from None
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
