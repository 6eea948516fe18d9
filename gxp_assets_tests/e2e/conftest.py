"""Fixtures of the end-to-end tests: a throwaway Dagster instance, a real webserver on it, a real browser."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gxp_assets_tests.conftest import relaxed_plan

if TYPE_CHECKING:
    from playwright.sync_api import Page

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Offline machine: no background fetches, no first-run UI, no GPU.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT_S = 120.0
SERVER_STOP_TIMEOUT_S = 15.0
POLL_INTERVAL_S = 0.5
#: ``dagster dev`` stops its webserver and daemon through shutdown pipes on SIGTERM; past this, its group is killed.
DEV_STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class GxpEnv:
    dagster_home: Path
    gxp_home: Path

    def as_env(self) -> dict[str, str]:
        return {"DAGSTER_HOME": str(self.dagster_home), "GXP_HOME": str(self.gxp_home)}


@pytest.fixture
def chromium_path() -> Path:
    """Debian's chromium and the playwright package, or a skip (a failure on CI, which installs both)."""
    missing = [
        what
        for what, present in (
            (f"chromium at {CHROMIUM}", CHROMIUM.exists()),
            ("the playwright package", importlib.util.find_spec("playwright") is not None),
        )
        if not present
    ]
    if missing:
        reason = f"the web UI e2e test needs {' and '.join(missing)}: not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must install it", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def gxp_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GxpEnv:
    """A fresh DAGSTER_HOME holding a copy of the project's dagster.yaml, and a fresh GXP_HOME."""
    env = GxpEnv(dagster_home=tmp_path / "dagster_home", gxp_home=tmp_path / "gxp_home")
    env.dagster_home.mkdir()
    env.gxp_home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", env.dagster_home / "dagster.yaml")
    for name, value in env.as_env().items():
        monkeypatch.setenv(name, value)
    return env


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_200(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        with opener.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, chars: int = 6000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-chars:] or "(empty)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server's whole process group (it spawns a gRPC code server), then kill what lingers."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, SERVER_STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def webserver(gxp_env: GxpEnv, tmp_path: Path) -> Iterator[str]:
    """``dagster-webserver`` on the project's workspace.yaml and the test's instance; yields its base URL."""
    port = _free_loopback_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "dagster_webserver",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
    ]
    env = {**os.environ, **gxp_env.as_env()}
    stdout_path, stderr_path = tmp_path / "webserver.stdout", tmp_path / "webserver.stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group, so teardown reaches the code server too
        )
    try:
        _wait_until_serving(proc, base_url, "dagster-webserver", stderr_path)
        yield base_url
    finally:
        _stop(proc)


@pytest.fixture
def browser_page(chromium_path: Path) -> Iterator[Page]:
    """A Playwright page in Debian's headless chromium; Playwright never downloads a browser here."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            # Large enough that the lineage graph draws full asset nodes, not the zoomed-out name-only ones.
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            yield page
        finally:
            browser.close()


#: ae_triage's stages as the lineage graph filters them (one group per use case, stages as the asset tag ``stage``):
#: the data stage, which ``prepare_training_data`` materializes, and its five assets as the graph names them.
USE_CASE = "ae_triage"
DATA_GROUP = "data"
DATA_ASSETS = ("labelled_reports", "validated_reports", "quarantined_reports", "report_features", "dataset_splits")
#: The model stage, which the e2e test leaves unmaterialized (training a model would slow it down).
MODEL_GROUP = "model"
MODEL_ASSETS = ("ae_classifier", "conformal_model", "model_evaluation")
#: A small demo corpus, so materializing takes seconds.
SMALL_DEMO_RUN_CONFIG = {"ops": {"labelled_reports": {"config": {"format": "demo", "demo_documents": 60}}}}


@pytest.fixture
def materialized_run_id(gxp_env: GxpEnv) -> str:
    """Materialize the data assets in this process into the test's instance; the id of that run."""
    from dagster import DagsterInstance

    from gxp_assets.definitions import SCOPES, defs

    scope = SCOPES[USE_CASE]
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def(scope.name("prepare_training_data")).execute_in_process(
            instance=instance, run_config=scope.run_config(SMALL_DEMO_RUN_CONFIG)
        )
    assert result.success, "prepare_training_data failed on the small demo corpus"
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert materialized == {scope.key(name).to_user_string() for name in DATA_ASSETS}
    return result.run_id


@pytest.fixture
def gxp_plan(gxp_env: GxpEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """GXP_PLAN set to a relaxed copy of the change control plan, which a small demo model meets, with the DEMO-ONLY
    role administrator pinned (so the demo roles file is approved before `dagster dev` starts)."""
    from gxp_assets.cli.demo import ensure_demo_signers

    monkeypatch.setenv("GXP_PLAN", str(relaxed_plan(tmp_path / "relaxed_change_control_plan.yaml")))
    ensure_demo_signers()  # points GXP_PLAN at the pinned copy
    plan = Path(os.environ["GXP_PLAN"])
    monkeypatch.setenv("GXP_PLAN", str(plan))
    return plan


@dataclass(frozen=True)
class DagsterDev:
    base_url: str
    log: Path  # stdout and stderr of ``dagster dev``: its webserver's, daemon's and run workers' logs

    def log_tail(self) -> str:
        return _tail(self.log)


def _stop_dagster_dev(proc: subprocess.Popen[bytes]) -> None:
    """Ask ``dagster dev`` to stop (it shuts its children down), then kill whatever is left of its process group.

    SIGTERM goes to ``dagster dev`` alone: sent to the whole group it reaches the webserver and daemon before their
    shutdown pipes do, and they hang. The group is killed in any case, so no code server or run worker outlives it.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=DEV_STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)


@pytest.fixture
def dagster_dev(gxp_env: GxpEnv, gxp_plan: Path, tmp_path: Path) -> Iterator[DagsterDev]:
    """``dagster dev`` (webserver *and* daemon, which dequeues launched runs) on the test's instance and plan."""
    dagster_cli = Path(sys.executable).parent / "dagster"
    if not dagster_cli.is_file():
        pytest.fail(f"no dagster CLI beside {sys.executable}", pytrace=False)
    port = _free_loopback_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [
        str(dagster_cli),
        "dev",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
    ]
    env = {**os.environ, **gxp_env.as_env(), "GXP_PLAN": str(gxp_plan)}
    log_path = tmp_path / "dagster_dev.log"  # its services log to stdout, Python's warnings go to stderr
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: webserver, daemon, code servers and run workers
        )
    try:
        _wait_until_serving(proc, base_url, "dagster dev", log_path)
        yield DagsterDev(base_url=base_url, log=log_path)
    finally:
        _stop_dagster_dev(proc)


def _wait_until_serving(proc: subprocess.Popen, base_url: str, what: str, log_path: Path) -> None:
    """Bounded wait for /server_info; fails with the end of the server's log if it exits or never answers."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not _answers_200(f"{base_url}/server_info"):
        if proc.poll() is not None:
            pytest.fail(
                f"{what} exited with {proc.returncode} before answering; log:\n{_tail(log_path)}", pytrace=False
            )
        if time.monotonic() > deadline:
            pytest.fail(
                f"{what} did not answer {base_url}/server_info within {SERVER_START_TIMEOUT_S:.0f} s;"
                f" log:\n{_tail(log_path)}",
                pytrace=False,
            )
        time.sleep(POLL_INTERVAL_S)
