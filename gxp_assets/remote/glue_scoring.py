"""AWS Glue job script: score one batch with Spark (remote.spark_scoring) and report back through Dagster Pipes.

Upload this file as the Glue job's script (``gxp_assets`` itself goes in with ``--additional-python-modules``, and
the encoder's files as the wheel remote.encoder_wheel writes; see deploy/README.md). Dagster's ``PipesGlueClient``
starts the run with the Pipes bootstrap in the job's arguments; the context (and in it the extras below) comes from
S3, messages and logs go back to S3. Extras, all set by defs.scoring_place:

- ``input_uri``, ``bundle_uri``: the batch file and the model bundle (JSON) in S3, with their SHA-256
  (``input_sha256``, ``bundle_sha256``), checked before anything is scored;
- ``output_uri``: the prefix the staged chunks and ``manifest.json`` are written under;
- ``source_name``, ``stamp``, ``rules``, ``encoding``, ``chunk_records``, ``explain_top_k``: as in-process.

The job reports the materialization of the scored batch with its counts and the manifest's SHA-256; the Dagster
side checks every staged file against the manifest before it publishes anything.
"""

from __future__ import annotations

import gc
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from gxp_assets.core.hashing import sha256_file, sha256_hex
from gxp_assets.remote.job_inputs import ModelBundle, rules_from_dict, stamp_from_dict

JOB_NAME = "gxp-score-batch"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key); anything else is refused naming it."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an S3 object URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def checked(uri: str, found: str, expected: str) -> None:
    """What was read from ``uri`` must hash to what the Dagster side sent; otherwise the job fails, scoring nothing."""
    if found != expected:
        raise ValueError(f"{uri} hashes to {found}, not to the {expected} the Dagster run sent: refusing to score it")


def settle_job_process() -> None:
    """For a process that runs one scoring job (the Glue job, a benchmark's child): move what is loaded so far
    (modules, Spark's objects) out of the garbage collector's reach, so that it does not walk them again for every
    chunk of records the driver reads (measured: about 15 % of the driver's reading time)."""
    gc.freeze()


def run_job(extras: dict[str, Any], s3: Any, log: Any, work: Path) -> dict[str, Any]:
    """Download and check the inputs, score on Spark staging straight into ``output_uri``; returns the metadata the
    materialization reports."""
    started = time.perf_counter()
    source = work / f"batch{Path(split_s3_uri(extras['input_uri'])[1]).suffix}"
    s3.download_file(*split_s3_uri(extras["input_uri"]), str(source))
    checked(extras["input_uri"], sha256_file(source), extras["input_sha256"])
    bucket, key = split_s3_uri(extras["bundle_uri"])
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    checked(extras["bundle_uri"], sha256_hex(text), extras["bundle_sha256"])
    bundle = ModelBundle.from_json(text.decode())
    log.info(f"batch {extras['stamp']['batch']}: {source.stat().st_size:,} bytes downloaded; starting Spark")
    from gxp_assets.remote.spark_scoring import MANIFEST, score_on_spark, scoring_session  # after the checks
    from gxp_assets.remote.staging_place import StagingPlace

    spark = scoring_session(extras.get("spark_master"), "gxp-glue-scoring")
    place = StagingPlace(extras["output_uri"].rstrip("/") + "/")  # S3: the executors write their chunks there
    scoring = score_on_spark(
        spark,
        source,
        bundle,
        rules_from_dict(extras["rules"]),
        stamp_from_dict(extras["stamp"]),
        place,
        encoding=extras.get("encoding"),
        chunk_records=int(extras["chunk_records"]),
        explain_top_k=int(extras["explain_top_k"]),
        source_name=extras["source_name"],
        log=log.info,
    )
    manifest = place.get(MANIFEST)
    log.info(f"scored {scoring.scored:,}, quarantined {scoring.quarantined:,} of {scoring.received:,} records")
    return {
        "received": scoring.received,
        "scored": scoring.scored,
        "quarantined": scoring.quarantined,
        "chunks": len(scoring.chunks),
        "manifest_uri": place.uri + MANIFEST,
        "manifest_sha256": sha256_hex(manifest),
        "spark_seconds": round(time.perf_counter() - started, 3),
        **{f"seconds_{phase}": round(value, 3) for phase, value in scoring.seconds.items()},
    }


def main() -> None:
    """The Glue entry point: the Pipes session wraps the whole job, so a failure is reported back as well."""
    import boto3
    from dagster_pipes import PipesCliArgsParamsLoader, PipesS3ContextLoader, PipesS3MessageWriter, open_dagster_pipes

    s3 = boto3.client("s3")
    with open_dagster_pipes(
        context_loader=PipesS3ContextLoader(client=s3),
        message_writer=PipesS3MessageWriter(client=s3, interval=1),
        params_loader=PipesCliArgsParamsLoader(),
    ) as pipes:
        with tempfile.TemporaryDirectory(prefix="gxp-glue-") as folder:
            settle_job_process()
            metadata = run_job(dict(pipes.extras), s3, pipes.log, Path(folder))
        pipes.report_asset_materialization(metadata=metadata, data_version=metadata["manifest_sha256"])
        print(json.dumps({"gxp_glue_scoring": metadata}), flush=True)


if __name__ == "__main__":
    main()
