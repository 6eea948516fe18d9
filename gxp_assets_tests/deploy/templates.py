"""The CloudFormation templates of deploy/ as data, for the policy tests and the moto test: read the way
CloudFormation reads them (short tags in their long form), with the helpers the checks share."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from gxp_assets.stores.aws_template import load_template
from gxp_assets_tests.conftest import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
#: Every template of the estate, in deployment order (deploy/README.md).
TEMPLATES = ("gxp_stack", "network", "identity", "compute", "governance")
#: The parameter a template names another stack with, and that stack's template (its exports are NAME-OUTPUT).
STACK_PARAMETERS = {"DataStack": "gxp_stack", "NetworkStack": "network", "IdentityStack": "identity"}
#: How the templates other than gxp_stack.yaml name the data stack's customer-managed key.
IMPORTED_KEY = {"Fn::ImportValue": {"Fn::Sub": "${DataStack}-KmsKeyArn"}}
#: Actions that read or write records (objects, items, messages, secrets, mail, key material): never on "*".
DATA_ACTION = re.compile(
    r"^(s3:(Get|Put|Delete)Object.*|s3:ListBucket|s3:AbortMultipartUpload|dynamodb:(GetItem|PutItem|UpdateItem|"
    r"DeleteItem|Query|Scan|Batch\w+|Transact\w+|ConditionCheckItem)|sqs:(SendMessage|ReceiveMessage|DeleteMessage|"
    r"ChangeMessageVisibility)|kms:(Decrypt|Encrypt|GenerateDataKey\w*|ReEncrypt\w*|CreateGrant)|"
    r"secretsmanager:GetSecretValue|ses:Send\w+|sagemaker:InvokeEndpoint|logs:(PutLogEvents|GetLogEvents))$"
)


@cache
def template(name: str) -> dict[str, Any]:
    """One template, parsed once per test session (the checks only read it)."""
    return load_template(DEPLOY / f"{name}.yaml")


def all_templates() -> dict[str, dict[str, Any]]:
    return {name: template(name) for name in TEMPLATES}


def resources(kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(template, logical id, properties) of every resource of ``kind`` in the estate."""
    for name, body in all_templates().items():
        for logical, resource in body["Resources"].items():
            if resource["Type"] == kind:
                yield name, logical, resource.get("Properties", {})


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def is_the_key(value: Any) -> bool:
    """The data stack's customer-managed key, however a template refers to it."""
    return value in ({"Ref": "Key"}, {"Fn::GetAtt": ["Key", "Arn"]}, IMPORTED_KEY)


def wildcard_action(action: str) -> bool:
    return action == "*" or action.endswith(":*")


def allow_statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for statement in as_list(document["Statement"]):
        if statement["Effect"] == "Allow":
            yield statement


def identity_policies() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(template, policy name, document) of every identity-based policy: managed policies and inline ones."""
    for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
        for name, logical, properties in resources(kind):
            yield name, logical, properties["PolicyDocument"]
    for name, logical, properties in resources("AWS::IAM::Role"):
        for inline in properties.get("Policies", []):
            yield name, f"{logical}/{inline['PolicyName']}", inline["PolicyDocument"]


def imports(node: Any) -> Iterator[str]:
    """Every "${Param}-Export" string an Fn::ImportValue of ``node`` names."""
    if isinstance(node, dict):
        if set(node) == {"Fn::ImportValue"}:
            value = node["Fn::ImportValue"]
            yield value["Fn::Sub"] if isinstance(value, dict) else value
        for child in node.values():
            yield from imports(child)
    elif isinstance(node, list):
        for child in node:
            yield from imports(child)
