"""deploy/Dockerfile: the image is built from the pinned constraints with the production extra, carries the
production Dagster instance, and runs as an unprivileged user (checkov's Dockerfile scan in deploy/check.sh checks
the rest)."""

from __future__ import annotations

from gxp_assets_tests.deploy.templates import DEPLOY


def _instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_image_installs_the_pinned_versions_and_the_production_instance() -> None:
    runs = " ".join(argument for instruction, argument in _instructions() if instruction == "RUN")
    assert '-c constraints.txt ".[deploy]"' in runs
    assert "cp deploy/dagster.yaml /opt/dagster/dagster_home/dagster.yaml" in runs
    environment = " ".join(argument for instruction, argument in _instructions() if instruction == "ENV")
    assert "DAGSTER_HOME=/opt/dagster/dagster_home" in environment


def test_the_image_runs_as_an_unprivileged_user() -> None:
    users = [argument for instruction, argument in _instructions() if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    order = [instruction for instruction, _ in _instructions()]
    # privileges dropped after the installs
    assert order.index("USER") > max(index for index, name in enumerate(order) if name == "RUN")
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", "deploy/.venv-check"} <= set(ignored)
