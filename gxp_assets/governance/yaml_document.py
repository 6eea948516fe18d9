"""Reviewed YAML documents (the change control plan, a use-case declaration) read into strict pydantic models.

One reading path, so that every controlled document is refused the same way: a file that cannot be read, is not
YAML, is not a mapping, or breaks its schema raises the caller's error naming the file and every invalid field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def read_document(path: Path, what: str, error: type[ValueError]) -> bytes:
    """The file's exact bytes, which are what gets hashed into lineage."""
    try:
        return path.read_bytes()
    except OSError as problem:
        raise error(f"{path}: cannot read {what}: {problem}") from problem


def validate_document(
    data: bytes,
    model: type[Model],
    path: Path,
    what: str,
    scope: str,
    error: type[ValueError],
    echo_mappings: bool = True,
) -> Model:
    """Parse ``data`` as YAML and validate it as ``model``; ``scope`` names the document in field messages.

    ``echo_mappings=False`` leaves the offending value out of a message when it is a whole section (a mapping or a
    list), so that a cross-field error does not repeat the document back.
    """
    try:
        values = yaml.safe_load(data)
    except yaml.YAMLError as problem:
        raise error(f"{path}: {what} is not valid YAML: {problem}") from problem
    if not isinstance(values, dict):
        raise error(f"{path}: {what} must be a mapping of fields, got {type(values).__name__}")
    try:
        return model.model_validate(values)
    except ValidationError as problem:
        described = "; ".join(describe(item, scope, echo_mappings) for item in problem.errors())
        raise error(f"{path}: invalid {what}: {described}") from problem


def describe(problem: Any, scope: str, echo_mappings: bool = True) -> str:
    """One pydantic error as ``dotted.field: what is wrong (got value)``."""
    location = ".".join(str(part) for part in problem["loc"]) or f"({scope})"
    if problem["type"] == "extra_forbidden":
        return f"{location}: unknown field (not part of the {scope} schema)"
    if problem["type"] == "missing":
        return f"{location}: required field is missing"
    value = problem.get("input")
    if not echo_mappings and isinstance(value, dict | list):
        return f"{location}: {problem['msg']}"
    return f"{location}: {problem['msg']} (got {value!r})"
