"""The web app served from a background thread."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest
from fastapi import FastAPI

from galmorph.exceptions import GalmorphError
from galmorph.web.app import create_app
from galmorph.web.background import BackgroundServer
from galmorph.web.gallery import Gallery


def test_serves_until_stopped(web_files: dict[str, Path]) -> None:
    with BackgroundServer(create_app(Gallery(web_files["embeddings"]))) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(server.url + "/api/info", timeout=10) as answer:
            assert json.load(answer)["n_galaxies"] == 40
    with pytest.raises(OSError):  # stopped: nothing listens any more
        urllib.request.urlopen(server.url + "/api/info", timeout=5)


def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(GalmorphError, match=f"did not start on 127.0.0.1:{port}"):
            BackgroundServer(FastAPI(), port=port, timeout=10)
