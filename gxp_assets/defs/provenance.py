"""Facts about the running code that a model's lineage records: package, git commit, library versions, user."""

import getpass
import os
import subprocess
from importlib import metadata
from pathlib import Path

LIBRARIES = ("gxp-assets", "dagster", "lightgbm", "mapie", "scikit-learn", "numpy", "scipy", "pandas", "pyarrow")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def git_commit() -> dict:
    """The commit of the working tree and whether it had uncommitted changes (a dirty tree cannot be rebuilt)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def current_user() -> str:
    """Who launched this process: GXP_USER when set (the user id of the roles file), else the OS account."""
    return os.environ.get("GXP_USER") or getpass.getuser()
