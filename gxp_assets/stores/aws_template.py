"""CloudFormation templates as data: YAML with the short tags (!Ref, !GetAtt, !Sub, ...) read as the long forms
({"Ref": ...}, {"Fn::GetAtt": [...]}), and a resolver for the few intrinsics a policy statement uses, so that a
control an endpoint skipped can be applied with exactly the template's value (and the tests can read every template
of deploy/ the way CloudFormation does)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags read as {"Ref": ...}-style mappings."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """A template as data, intrinsic functions in their long form."""
    loaded: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_TemplateLoader)
    return loaded


_SUB_NAME = re.compile(r"\$\{([^}!]+)\}")


def resolve(node: Any, values: dict[str, str]) -> Any:
    """``node`` with Ref, Fn::GetAtt and string-form Fn::Sub replaced from ``values`` ("Name", "Name.Attr",
    "AWS::AccountId"); anything else unresolvable is a KeyError rather than a silently wrong policy."""
    if isinstance(node, list):
        return [resolve(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return values[node["Ref"]]
    if set(node) == {"Fn::GetAtt"}:
        return values[".".join(node["Fn::GetAtt"])]
    if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
        return _SUB_NAME.sub(lambda match: values[match.group(1)], node["Fn::Sub"])
    return {key: resolve(value, values) for key, value in node.items()}
