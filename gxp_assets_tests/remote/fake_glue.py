"""A Glue client double that runs the job for real, in the manner of dagster-aws's own tests (``fake_glue.py``).

moto records the job and its runs but runs nothing. This double passes every call to a real boto3 Glue client on
moto's loopback server, and in ``start_job_run`` also downloads the job's script from (moto's) S3 and runs it in a
subprocess with the run's arguments, as Glue would, here on local pyspark. ``get_job_run`` reports the process's
state; ``batch_stop_job_run`` (which moto lacks) terminates it. Output goes to files, so a chatty Spark can never
block on a full pipe.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class JobProcess:
    popen: subprocess.Popen
    stdout: Path
    stderr: Path
    stopped: bool = False


@dataclass
class LocalGlue:
    glue: Any  # boto3 Glue client on moto
    s3: Any  # boto3 S3 client on moto
    work: Path
    environment: dict[str, str]
    runs: dict[str, JobProcess] = field(default_factory=dict)
    interrupt_on_poll: int | None = None  # raise an interrupt at this get_job_run call (a stopped Dagster run)
    polls: int = 0

    @property
    def meta(self) -> Any:
        return self.glue.meta

    def start_job_run(self, JobName: str, Arguments: dict[str, str] | None = None, **kwargs: Any) -> dict:
        location = self.glue.get_job(JobName=JobName)["Job"]["Command"]["ScriptLocation"]
        bucket, key = location.removeprefix("s3://").split("/", 1)
        response = self.glue.start_job_run(JobName=JobName, Arguments=Arguments or {}, **kwargs)
        run_id = response["JobRunId"]
        folder = self.work / run_id
        folder.mkdir(parents=True)
        script = folder / Path(key).name
        self.s3.download_file(bucket, key, str(script))
        args = [part for name, value in (Arguments or {}).items() for part in (name, value)]
        stdout, stderr = folder / "stdout.log", folder / "stderr.log"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            popen = subprocess.Popen([sys.executable, str(script), *args], env=self.environment, cwd=folder,
                                     stdout=out, stderr=err)  # fmt: skip
        self.runs[run_id] = JobProcess(popen, stdout, stderr)
        return response

    def get_job_run(self, JobName: str, RunId: str, **kwargs: Any) -> dict:
        self.polls += 1
        if self.interrupt_on_poll is not None and self.polls >= self.interrupt_on_poll:
            from dagster._core.errors import DagsterExecutionInterruptedError

            self.interrupt_on_poll = None
            raise DagsterExecutionInterruptedError("the Dagster run was asked to stop")
        response = self.glue.get_job_run(JobName=JobName, RunId=RunId, **kwargs)
        run = self.runs[RunId]
        code = run.popen.poll()
        if run.stopped:
            state = "STOPPED"
        elif code is None:
            state = "RUNNING"
        else:
            state = "SUCCEEDED" if code == 0 else "FAILED"
            if code != 0:
                response["JobRun"]["ErrorMessage"] = run.stderr.read_text(errors="replace")[-4000:]
        response["JobRun"]["JobRunState"] = state
        return response

    def batch_stop_job_run(self, JobName: str, JobRunIds: list[str]) -> dict:
        stopped = []
        for run_id in JobRunIds:
            if (run := self.runs.get(run_id)) is not None:
                run.popen.terminate()
                run.popen.wait(timeout=60)
                run.stopped = True
                stopped.append({"JobName": JobName, "JobRunId": run_id})
        return {"SuccessfulSubmissions": stopped, "Errors": []}

    def close(self) -> None:
        """Stop any job still running (a failed test must not leave Spark behind)."""
        for run in self.runs.values():
            if run.popen.poll() is None:
                run.popen.kill()
                run.popen.wait(timeout=60)


def job_environment(aws: dict[str, str]) -> dict[str, str]:
    """What the job's process sees: this environment, the loopback AWS settings, Spark's Python and loopback IP."""
    return {**os.environ, **aws, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
