"""The public nginx of the cluster (``deploy/nginx.conf.template``) in front of dead or dying upstreams.

A real nginx on free ports, no Rasa: the upstream "instances" are closed ports or a socket that
reads the request and hangs up without answering (an instance killed mid-request).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from bot.channels.guard import replies
from ops.cluster import ClusterPlan, render_nginx_conf
from ops.supervise import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class HangUp:
    """A TCP server that reads a request and closes the connection without a byte of answer."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.recv(65536)
            time.sleep(0.2)  # "inside the handler" when the process dies
            conn.close()


def _nginx(tmp_path: Path, rasa_ports: tuple) -> Iterator[str]:
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed: make nginx-deps")
    public = free_port()
    plan = ClusterPlan(model="m.tar.gz", public_port=public, rasa_ports=rasa_ports,
                       action_ports=(free_port(),), action_lb_port=free_port(), run_dir=tmp_path)
    conf = render_nginx_conf(plan)
    process = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "e.log"),
                                "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{public}"
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(base + "/nginx-health", timeout=1)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("nginx did not start: " + (tmp_path / "e.log").read_text(errors="replace")[-2000:])
            time.sleep(0.1)
    try:
        yield base
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def nginx_no_instances(tmp_path: Path) -> Iterator[str]:
    yield from _nginx(tmp_path, (free_port(), free_port()))


@pytest.fixture
def hang_up() -> HangUp:
    return HangUp()


@pytest.fixture
def nginx_dying_instances(tmp_path: Path, hang_up: HangUp) -> Iterator[str]:
    yield from _nginx(tmp_path, (hang_up.port,))


def _assert_polite_502(response: requests.Response) -> None:
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("application/json")
    assert [m["text"] for m in response.json()] == [replies()["unavailable"]]
    assert "nginx" not in response.text and "<html" not in response.text


def test_no_instance_up_gives_a_polite_502_in_the_rest_format(nginx_no_instances: str):
    started = time.monotonic()
    response = requests.post(nginx_no_instances + "/webhooks/rest/webhook",
                             json={"sender": "resident-01234567", "message": "你好"}, timeout=30)
    _assert_polite_502(response)
    assert time.monotonic() - started < 10  # refused connections, two tries: no waiting for a timeout


def test_an_instance_dying_mid_request_gives_the_polite_502(nginx_dying_instances: str, hang_up: HangUp):
    response = requests.post(nginx_dying_instances + "/webhooks/rest/webhook",
                             json={"sender": "resident-01234567", "message": "你好"}, timeout=30)
    _assert_polite_502(response)
    assert hang_up.accepted >= 1  # the request really was inside an "instance" when it went away


@pytest.mark.parametrize("path", ["/version", "/status", "/model", "/conversations/x/tracker", "/version?x=1"])
def test_rasas_api_and_version_are_not_reachable_through_nginx(nginx_no_instances: str, path: str):
    assert requests.get(nginx_no_instances + path, timeout=10).status_code == 404
