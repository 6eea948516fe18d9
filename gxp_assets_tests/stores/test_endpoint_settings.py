"""Which serving image and role the endpoint gets from the environment, and the one-line refusal when one is missing."""

from __future__ import annotations

import pytest

from gxp_assets.stores.aws_endpoint import EndpointSettings, EndpointSetupError

VARIABLES = ("GXP_ENDPOINT_NAME", "GXP_SAGEMAKER_IMAGE", "GXP_SAGEMAKER_ROLE_ARN", "GXP_ENDPOINT_ROLE_ARN",
             "GXP_ENDPOINT_INSTANCE_TYPE")  # fmt: skip


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_no_endpoint_name_means_no_endpoint() -> None:
    assert EndpointSettings.from_env() is None


def test_the_endpoint_role_wins_and_the_training_role_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GXP_ENDPOINT_NAME", "triage")
    monkeypatch.setenv("GXP_SAGEMAKER_IMAGE", "image:1")
    monkeypatch.setenv("GXP_SAGEMAKER_ROLE_ARN", "arn:training")
    assert EndpointSettings.from_env() == EndpointSettings("triage", "image:1", "arn:training")
    monkeypatch.setenv("GXP_ENDPOINT_ROLE_ARN", "arn:endpoint")
    assert EndpointSettings.from_env() == EndpointSettings("triage", "image:1", "arn:endpoint")
    monkeypatch.delenv("GXP_SAGEMAKER_ROLE_ARN")  # the endpoint's own role is enough
    assert EndpointSettings.from_env() == EndpointSettings("triage", "image:1", "arn:endpoint")


def test_a_missing_image_or_role_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GXP_ENDPOINT_NAME", "triage")
    with pytest.raises(EndpointSetupError, match="needs GXP_SAGEMAKER_IMAGE and GXP_SAGEMAKER_ROLE_ARN"):
        EndpointSettings.from_env()
    monkeypatch.setenv("GXP_SAGEMAKER_IMAGE", "image:1")
    with pytest.raises(EndpointSetupError, match="needs GXP_SAGEMAKER_ROLE_ARN "):
        EndpointSettings.from_env()
