"""Tests of the AWS estate in deploy/."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """moto's CloudFormation warns about each type it skips; test_stacks_in_moto.py lists them itself."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto"))
