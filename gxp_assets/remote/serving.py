"""SageMaker serving container entry point: ``GET /ping`` and ``POST /invocations`` on port 8080.

At start it reads the model folder SageMaker unpacked (``/opt/ml/model``; ``GXP_SAGEMAKER_ROOT`` moves the root):
``deployment.json`` names the version and record hash, beside the classifier, conformal record and drift reference
exactly as the artifact store keeps them. They are used only once the whole chain verifies with the same function
batch scoring uses (``deployed_model``: artifact hashes, record hash, plan in force, signed approvals, transitions,
audit trail; GXP_ENV and GXP_AWS_STACK name the registry) and the version is ACTIVE. Otherwise ``/ping`` answers
503 with the reason and ``/invocations`` refuses, so SageMaker never puts the container in service.

``/invocations`` takes one report as a JSON object (the report contract, ``received_at`` required, no label) and
scores it with ``score_chunk``, the function of batch scoring, after the same validation: the answer holds p_ae,
the prediction set, triage and its reason, the explanation, and the model and plan versions. Bad JSON is a 400, a
report that fails validation a 422 with the quarantine reason; nothing is guessed.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gxp_assets.remote.model_bundle import MANIFEST_FILE, bundle_artifacts
from gxp_assets.remote.sagemaker_training import Layout

PORT_ENV, HOST_ENV = "GXP_SERVING_PORT", "GXP_SERVING_HOST"
SUSPENSION_TTL_SECONDS = 60.0  # how long a read of the standing suspension is reused
MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker's own limit on an invocation's payload


class ReportRefused(ValueError):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class Serving:
    """The verified model and what scoring one report needs; ``refusal`` says why nothing is served."""

    deployed: Any = None
    refusal: str | None = None
    _watched: tuple[float, Any] = (0.0, None)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, model_dir: Path) -> Serving:
        try:
            return cls(deployed=verified_deployment(model_dir))
        except Exception as error:  # any failure to verify is a refusal to serve, with its reason
            reason = f"{type(error).__name__}: {error}"
            print(f"gxp serving: REFUSED to serve the model in {model_dir}: {reason}", file=sys.stderr, flush=True)
            return cls(refusal=reason)

    def fail_safe(self) -> Any:
        """What batch scoring watches for this version (plan limits, drift reference, the standing suspension a
        signed decision lifts), re-read from the audit trail at most once a minute."""
        with self._lock:
            read_at, watched = self._watched
            if watched is None or time.monotonic() - read_at > SUSPENSION_TTL_SECONDS:
                from gxp_assets.defs.fail_safe import watch
                from gxp_assets.stores import current_plan

                plan = current_plan(self.deployed.record["use_case"]).plan  # the plan of the model's own use case
                watched = watch(self.deployed.version, self.deployed.reference, plan)
                self._watched = (time.monotonic(), watched)
            return watched

    def score(self, body: bytes) -> dict[str, Any]:
        """One report scored as batch scoring scores a batch file of one record (``score_file``): the same
        validation, prediction, explanation and fail-safe (a single report is too few to judge drift, so its
        auto-close is withheld, as it is for any batch that small)."""
        from gxp_assets.core.batch_scoring import ScoringStamp, score_file
        from gxp_assets.defs.batch_reading import regulatory_clock
        from gxp_assets.defs.inference_assets import ScoringConfig
        from gxp_assets.stores import use_cases_in_force

        try:
            report = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ReportRefused(400, "bad_json", f"the body is not JSON: {error}") from None
        if not isinstance(report, dict):
            raise ReportRefused(400, "not_a_report", f"the body must be one JSON object, not a {type(report).__name__}")
        line = body.replace(b"\r", b" ").replace(b"\n", b" ")  # whitespace only: a JSON string holds no raw newline
        config, deployed, sink = ScoringConfig(), self.deployed, Collected()
        declaration = use_cases_in_force()[deployed.record["use_case"]].declaration.use_case
        stamp = ScoringStamp(batch="endpoint", model_version=deployed.version, plan_version=deployed.plan_version,
                             run_id=f"endpoint:{socket.gethostname()}", scored_at=datetime.now(UTC),
                             regulatory_clock=regulatory_clock(declaration, config.regulatory_clock_days))  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="gxp-invocation-") as folder:
            path = Path(folder) / "invocation.jsonl"
            path.write_bytes(line + b"\n")
            score_file(path, deployed.model, deployed.spec, config.rules(), stamp, sink, fail_safe=self.fail_safe(),
                       explain_top_k=config.explain_top_k, staging_dir=Path(folder))  # fmt: skip
        if sink.quarantined:
            refused = sink.quarantined[0].iloc[0]
            raise ReportRefused(422, str(refused["reason"]), str(refused["detail"]))
        predictions = sink.predictions[0]
        row = predictions.iloc[0]
        return {
            "report_id": row["report_id"],
            "input_sha256": row["input_sha256"],
            "p_ae": float(row["p_ae"]),
            "prediction_set": row["prediction_set"],
            "triage": row["triage"],
            "triage_reason": row["triage_reason"],
            "explanation": json.loads(row["explanation"]),
            "model_version": row["model_version"],
            "plan_version": row["plan_version"],
            "scored_at": row["scored_at"].isoformat(),
            "due_at": row["due_at"].isoformat(),
        }


class Collected:
    """A ``ChunkSink`` that keeps what it is given."""

    def __init__(self) -> None:
        self.predictions: list[Any] = []
        self.quarantined: list[Any] = []

    def add(self, predictions: Any, quarantined: Any) -> None:
        if len(predictions):
            self.predictions.append(predictions)
        if len(quarantined):
            self.quarantined.append(quarantined)


def verified_deployment(model_dir: Path) -> Any:
    """The DeployedModel of the folder, once the chain verifies and the version is ACTIVE; raises naming why not."""
    from gxp_assets.defs.deployed import deployed_model
    from gxp_assets.governance.registry import State
    from gxp_assets.stores import artifact_store, open_governance

    manifest_path = model_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no {MANIFEST_FILE} in {model_dir}: not a gxp model folder")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    artifacts = bundle_artifacts({path.name: path.read_bytes() for path in model_dir.iterdir() if path.is_file()})
    governance = open_governance()
    deployed = deployed_model(governance, artifact_store(), manifest["version"], artifacts)
    registered = governance.registry.get(manifest["version"])
    if registered is None or registered.record_hash != manifest["record_hash"]:
        raise ValueError(f"the registry's record of {manifest['version']} is not the one this folder was made from")
    if deployed.state != State.ACTIVE:
        raise ValueError(f"model {deployed.version} is {deployed.state}, not ACTIVE: only the ACTIVE model is served")
    return deployed


def handler_for(serving: Serving) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "gxp-serving"

        def _answer(self, status: int, document: dict[str, Any]) -> None:
            payload = json.dumps(document, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            if self.path != "/ping":
                self._answer(404, {"error": "not_found", "detail": f"no {self.path}; GET /ping, POST /invocations"})
            elif serving.refusal is not None:
                self._answer(503, {"status": "refused", "reason": serving.refusal})
            else:
                self._answer(200, {"status": "ok", "model_version": serving.deployed.version})

        def do_POST(self) -> None:
            if self.path != "/invocations":
                self._answer(404, {"error": "not_found", "detail": f"no {self.path}; POST /invocations"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                detail = f"{length} bytes; one report of at most {MAX_BODY_BYTES} bytes per invocation"
                self._answer(413, {"error": "too_large", "detail": detail})
                return
            body = self.rfile.read(length)
            if serving.refusal is not None:
                self._answer(503, {"error": "model_refused", "detail": serving.refusal})
                return
            try:
                self._answer(200, serving.score(body))
            except ReportRefused as refused:
                self._answer(refused.status, {"error": refused.code, "detail": refused.detail})

        def log_message(self, format: str, *args: Any) -> None:
            print(f"gxp serving: {self.address_string()} {format % args}", file=sys.stderr, flush=True)

    return Handler


def make_server(model_dir: Path, host: str, port: int) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), handler_for(Serving.load(model_dir)))


def main() -> int:
    """SageMaker starts the image with ``serve``; the port is 8080 and the model in /opt/ml/model."""
    server = make_server(
        Layout.from_env().model, os.environ.get(HOST_ENV) or "0.0.0.0", int(os.environ.get(PORT_ENV) or 8080)
    )
    print(f"gxp serving on {server.server_address[0]}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
