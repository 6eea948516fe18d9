"""`gxp aws provision`: make or update the gxp CloudFormation stack from deploy/ and print what it provides.

Standard AWS configuration only (profiles, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL for a local endpoint); nothing is
written to a file. Afterwards `GXP_ENV=aws GXP_AWS_STACK=NAME` makes every command and the Dagster code location
use the stack's bucket, tables and queues. Any AWS failure of any command is one line naming the resource and the
permission (exit 1), never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from botocore.exceptions import BotoCoreError, ClientError

from gxp_assets.cli.common import EXIT_FAILED, EXIT_OK
from gxp_assets.stores.aws_session import AwsSetupError, problem

#: Errors of the aws environment that a command reports as one line (exit 1) instead of a traceback.
AWS_ERRORS = (AwsSetupError, ClientError, BotoCoreError)


def aws_problem(error: Exception) -> str:
    return str(error) if isinstance(error, AwsSetupError) else problem(error, "aws")


def cmd_provision(args: argparse.Namespace) -> int:
    from gxp_assets.stores.aws_provision import provision

    parameters = dict(item.split("=", 1) for item in args.parameter)
    result = provision(args.stack, parameters)
    for name, value in sorted(result.outputs.items()):
        print(f"{name:<28} {value}")
    for applied in result.applied:
        print(f"applied (the stack did not hold it): {applied}")
    for checked in result.template_only:
        print(f"not held by this endpoint, checked on the template: {checked}")
    for found in result.problems:
        print(f"gxp: stack {args.stack}: {found}", file=sys.stderr)
    if result.problems:
        return EXIT_FAILED
    print(f"\nstack {args.stack} is ready: export GXP_ENV=aws GXP_AWS_STACK={args.stack}")
    return EXIT_OK


def _parameter(text: str) -> str:
    if "=" not in text or not text.split("=", 1)[0]:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return text


def add_commands(commands: argparse._SubParsersAction) -> None:
    aws = commands.add_parser("aws", help="the aws environment: provision its CloudFormation stack")
    actions = aws.add_subparsers(dest="action", required=True)
    provision = actions.add_parser("provision", help="create or update the stack from deploy/gxp_stack.yaml")
    provision.add_argument("--stack", required=True, help="CloudFormation stack name (then GXP_AWS_STACK=NAME)")
    provision.add_argument(
        "--parameter", action="append", default=[], type=_parameter,
        help="template parameter KEY=VALUE, e.g. NotifyEmail=pv@example.com (repeatable)",
    )  # fmt: skip
    provision.set_defaults(handler=cmd_provision)
