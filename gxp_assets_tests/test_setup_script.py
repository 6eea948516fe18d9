"""scripts/setup.sh says what it is doing, step by step, instead of staying silent for minutes."""

from __future__ import annotations

import re
import subprocess

import pytest

from gxp_assets_tests.conftest import PROJECT_ROOT


@pytest.mark.e2e
def test_setup_prints_each_step_with_a_time() -> None:
    done = subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "setup.sh")], capture_output=True, text=True,
                          timeout=1800, cwd=PROJECT_ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    steps = re.findall(r"^setup \[\d\d:\d\d:\d\d\] (\d)/3 ", done.stdout, re.MULTILINE)
    assert steps == ["1", "2", "3"], done.stdout[-2000:]
