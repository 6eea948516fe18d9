"""Promotion and rollback reach the serving endpoint: the ACTIVE version, verified, behind SageMaker; people told.

Called once the registry holds a version ACTIVE (``active_model`` on promotion, and on any rerun of it, so a failed
deployment is made good; ``gxp rollback``). On aws with ``GXP_ENDPOINT_NAME`` set it verifies the version's whole
chain again (the same point-of-use verification), deploys its model folder (stores/aws_endpoint.py), writes a
``deployment`` audit entry and sends a ``model_endpoint_switched`` notification (SES e-mail and the Training Results
queue, through the project's notifier); anywhere else it does nothing and returns None (the local environment is
unchanged). A switch that changed nothing (the endpoint serves that version already) is neither audited nor told.
"""

from __future__ import annotations

from typing import Any

from gxp_assets.governance.registry import State
from gxp_assets.governance.service import ActionRefused, Governance
from gxp_assets.remote.model_bundle import bundle_files
from gxp_assets.stores import environment, notifier
from gxp_assets.stores.aws_endpoint import Deployment, EndpointSettings, SageMakerEndpoint
from gxp_assets.stores.notifier import Notification

DEPLOYMENT_ACTION = "deployment"


def switch_endpoint(
    governance: Governance, version: str, actor: str, why: str, client: Any = None
) -> Deployment | None:
    """Put ACTIVE ``version`` behind the endpoint (``why``: promotion or rollback); None where no endpoint is set."""
    settings = EndpointSettings.from_env() if environment() == "aws" else None
    if settings is None:
        return None
    from gxp_assets.stores.aws_session import aws_context

    model = governance.registry.get(version)
    if model is None or model.state != State.ACTIVE:
        state = model.state if model else "not registered"
        raise ActionRefused("wrong_state", f"model {version} is {state}; only the ACTIVE version goes to the endpoint")
    artifacts = governance.load_model_artifacts(model)
    governance.require_verified(version, actor, f"deploy model {version} to endpoint {settings.endpoint_name}",
                                artifacts)  # fmt: skip
    aws = aws_context()
    container_env = {"GXP_ENV": "aws", "GXP_AWS_STACK": aws.stack, "AWS_DEFAULT_REGION": aws.region or ""}
    files = bundle_files(version, model.record_hash, artifacts)
    deployment = SageMakerEndpoint(aws, settings, client).deploy(version, files, container_env)
    if deployment.action == "unchanged":  # it serves this version already: nothing happened, nothing to tell
        return deployment
    governance.audit.append(actor, DEPLOYMENT_ACTION, version, {**deployment.to_dict(), "why": why})
    previous = f" (it served {deployment.previous_config})" if deployment.previous_config else ""
    notifier().send(
        Notification(
            kind="model_endpoint_switched",
            subject=f"endpoint {deployment.endpoint} now serves model {version}",
            body=f"SageMaker endpoint {deployment.endpoint} {deployment.action} to config {deployment.endpoint_config}"
            f"{previous}: model {version} of {model.use_case}, {why}, by {actor}.",
            payload={"model_version": version, "why": why, **deployment.to_dict()},
        )
    )
    return deployment
