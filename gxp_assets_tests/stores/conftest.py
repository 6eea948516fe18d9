"""Fixtures of the store contract tests: every protocol runs against both backends, chosen by GXP_ENV through the
one mapping in gxp_assets.stores, so local and aws cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from gxp_assets_tests.aws_server import aws_env, aws_stack, moto_endpoint, new_stack

__all__ = ["aws_env", "aws_stack", "backend_name", "moto_endpoint"]


@pytest.fixture(params=["local", "aws"])
def backend_name(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """GXP_HOME in tmp_path, and GXP_ENV=local, or GXP_ENV=aws with a fresh stack on the loopback moto server."""
    monkeypatch.setenv("GXP_HOME", str(tmp_path / "gxp_home"))
    if request.param == "aws":
        request.getfixturevalue("aws_env")
        new_stack(monkeypatch)
    else:
        monkeypatch.setenv("GXP_ENV", "local")
    return str(request.param)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """moto's CloudFormation warns about each type it skips; the provisioner reports and checks those itself."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto"))
