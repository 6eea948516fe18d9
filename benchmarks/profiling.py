"""cProfile for a benchmark's measured child process, written outside the repository when asked.

    GXP_PROFILE_DIR=/tmp/prof python benchmarks/scoring.py --sizes 5000

Each child then writes ``<name>.prof`` there (read it with ``python -m pstats`` or snakeviz); without the variable
nothing is profiled and the measurement is unchanged.
"""

from __future__ import annotations

import cProfile
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def profiled(name: str, work: Callable[[], T]) -> T:
    """``work()``, under cProfile when GXP_PROFILE_DIR is set (the profile's own cost then slows it down)."""
    folder = os.environ.get("GXP_PROFILE_DIR")
    if not folder:
        return work()
    Path(folder).mkdir(parents=True, exist_ok=True)
    profile = cProfile.Profile()
    try:
        return profile.runcall(work)
    finally:
        profile.dump_stats(str(Path(folder) / f"{name}.prof"))
