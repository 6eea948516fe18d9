"""Temporary files of killed writers: real processes are killed (SIGKILL) mid-write, and the next store open must
remove what they left, without touching the temporaries of a writer that is still alive or the committed results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets.stores.results_local import LocalResultsStore
from gxp_assets.stores.scratch import Scratch
from gxp_assets_tests.stores.test_results_local import scored

# Writes chunks of batch "b" until killed, or until its stdin closes when started with "commit".
_RESULTS_WRITER = """
    import sys
    from gxp_assets.stores.results_local import LocalResultsStore
    from gxp_assets_tests.stores.test_results_local import scored
    import pandas as pd
    store = LocalResultsStore(sys.argv[1])
    with store.writer("b", "run-killed") as writer:
        start = 0
        while True:
            writer.add(scored("b", start, 2_000), pd.DataFrame())
            start += 2_000
            print("chunk", flush=True)
            if sys.argv[2] == "commit":
                sys.stdin.read()
                break
"""


@contextmanager
def writer_process(home: Path, mode: str) -> Iterator[subprocess.Popen[str]]:
    script = textwrap.dedent(_RESULTS_WRITER)
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(home), mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "chunk\n"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name != ".sweep.lock")


def test_a_results_writer_killed_mid_write_leaves_nothing_after_the_next_open(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    with store.writer("b", "run-1") as writer:
        writer.add(scored("b", 0, 10), pd.DataFrame())
    scratch = tmp_path / "scratch" / "results"
    with writer_process(tmp_path, "forever") as process:
        deadline = time.monotonic() + 60
        while not any(name.endswith(".predictions.tmp") and (scratch / name).stat().st_size > 0
                      for name in leftovers(scratch)):  # fmt: skip
            assert time.monotonic() < deadline, "the writer never wrote"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)  # mid-write: it adds chunks without pause
        assert process.wait(timeout=60) == -signal.SIGKILL
    left = leftovers(scratch)
    assert {name.split(".", 2)[2] for name in left} >= {"lock", "predictions.tmp", "quarantine.tmp", "staging.tmp"}

    reopened = LocalResultsStore(tmp_path)  # the next run opens the store
    assert leftovers(scratch) == []
    assert reopened.batch_summary("b").run_id == "run-1"  # the committed batch is untouched
    assert len(reopened.predictions("b")) == 10


def test_a_live_writer_keeps_its_temporaries_while_another_process_opens_the_store(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch" / "results"
    with writer_process(tmp_path, "commit") as process:
        alive = leftovers(scratch)
        assert any(name.endswith(".staging.tmp") for name in alive)
        LocalResultsStore(tmp_path)  # another run opens the store while the writer works
        assert leftovers(scratch) == alive
        _, errors = process.communicate("", timeout=60)  # closing stdin lets it commit
        assert process.returncode == 0, errors
    assert leftovers(scratch) == []
    assert LocalResultsStore(tmp_path).batch_summary("b").run_id == "run-killed"


_ARTIFACT_WRITER = """
    import sys, time
    from pathlib import Path
    from gxp_assets.stores.scratch import Scratch
    with Scratch(Path(sys.argv[1]) / "scratch" / "artifacts").claim() as claim:
        with claim.path("incoming").open("wb") as handle:
            handle.write(b"half of an artifact")
            handle.flush()
            print("writing", flush=True)
            time.sleep(600)
"""


def test_an_artifact_write_killed_half_way_is_removed_when_the_store_is_next_opened(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    kept = store.put("asset", None, b"kept", ".bin", "run-1")
    scratch = tmp_path / "scratch" / "artifacts"
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_ARTIFACT_WRITER), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "writing\n"
        LocalArtifactStore(tmp_path)  # alive: its file stays
        assert [name.split(".", 2)[2] for name in leftovers(scratch)] == ["incoming", "lock"]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    again = LocalArtifactStore(tmp_path)
    assert leftovers(scratch) == []
    assert again.read(kept) == b"kept" and again.put("asset", None, b"new", ".bin", "run-2").size == 3
    assert leftovers(scratch) == []  # a write that completes leaves nothing behind either


def test_a_claim_is_released_and_cleaned_in_process_even_when_the_writer_raises(tmp_path: Path) -> None:
    scratch = Scratch(tmp_path)
    try:
        with scratch.claim() as claim:
            claim.path("part").write_bytes(b"x")
            claim.path("folder").mkdir()
            (claim.path("folder") / "inner").write_bytes(b"y")
            assert scratch.sweep() == []  # held by this process: not swept
            raise RuntimeError("writer failed")
    except RuntimeError:
        pass
    assert leftovers(tmp_path) == []
