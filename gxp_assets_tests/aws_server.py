"""moto's server on loopback for the aws side of the suite: real boto3 clients over HTTP, nothing mocked in-process.

One server per test session (a free port on 127.0.0.1); each test provisions its own stack from deploy/, so tests
never see each other's buckets, tables or queues. Credentials are dummies set in the environment by the fixture,
never kept in the repository's configuration.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from gxp_assets.stores.aws_provision import Provisioned, provision
from gxp_assets.stores.aws_session import AwsContext, aws_context, reset_contexts

REGION = "eu-west-1"


def aws_environment(endpoint: str) -> dict[str, str]:
    """What a process needs to talk to the loopback server: dummy credentials, a region and the endpoint."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
    }


class SerialMotoServer(ThreadedMotoServer):
    """moto's threaded server, answering one request at a time. moto evaluates a DynamoDB transaction's conditions and
    writes without a lock, so with requests served in parallel threads two conflicting TransactWriteItems can both
    succeed (measured: forked audit chains and HTTP 500s with six appending threads). DynamoDB serializes them; so
    does this server, while the clients still race (each reads the head, then writes under its condition)."""

    def _server_entry(self) -> None:
        self._server = make_server(self._ip_address, self._port, DomainDispatcherApplication(create_backend_app),
                                   threaded=False)  # fmt: skip
        self._server_ready_event.set()
        self._server.serve_forever()


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port for the ``with`` block; yields its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    # moto's CloudFormation names what it skips; the provisioner reports and checks those resources itself.
    warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto", category=UserWarning)
    server = SerialMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def moto_server_process() -> Iterator[str]:
    """moto's server in a process of its own, for a test whose resources must not reach the session's server.

    moto's backends are global to a process, so every threaded server of the session shares them; and an RDS
    instance, once created, makes the server's /moto-api/data.json (which the e-mail checks read) fail for the rest
    of the process (moto 5.2.5: two of its properties raise NotImplementedError)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError) as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's server did not start on {endpoint}") from error
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in aws_environment(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    reset_contexts()
    return aws_environment(moto_endpoint)


def new_stack(monkeypatch: pytest.MonkeyPatch) -> Provisioned:
    """A freshly provisioned stack, chosen by GXP_ENV=aws and GXP_AWS_STACK for the rest of the test."""
    stack = f"gxp-test-{uuid.uuid4().hex[:10]}"
    provisioned = provision(stack)
    monkeypatch.setenv("GXP_ENV", "aws")
    monkeypatch.setenv("GXP_AWS_STACK", stack)
    reset_contexts()
    return provisioned


@pytest.fixture
def aws_stack(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AwsContext:
    new_stack(monkeypatch)
    return aws_context()


def moto_data(endpoint: str) -> dict[str, Any]:
    """moto's own view of its state (``/moto-api/data.json``): where sent SES mail can be read back."""
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=30) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def sent_mail(endpoint: str) -> list[dict[str, Any]]:
    """Every e-mail moto's SES accepted: subject, body, source, destinations."""
    messages: list[dict[str, Any]] = moto_data(endpoint).get("ses", {}).get("Message", [])
    return messages
