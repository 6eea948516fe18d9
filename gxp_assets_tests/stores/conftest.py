"""The aws fixtures (moto server on loopback, a provisioned stack) for the store contract tests."""

from gxp_assets_tests.aws_server import aws_env, aws_stack, moto_endpoint

__all__ = ["aws_env", "aws_stack", "moto_endpoint"]
