"""Reading whole DynamoDB queries and scans, one page after another, for every aws store (one definition)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer

_SERIALIZER = TypeSerializer()


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; stores hand out ints (they store no fractions as numbers)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def low_level(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain item in DynamoDB's wire format, for ``TransactWriteItems``."""
    return {key: _SERIALIZER.serialize(value) for key, value in item.items()}


def _all(call: Any, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = call(**kwargs)
        items += [plain(item) for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def query_all(table: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a ``Table.query`` (boto3 resource), following LastEvaluatedKey; consistent reads."""
    return _all(table.query, {"ConsistentRead": True, **kwargs})


def scan_all(table: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a ``Table.scan`` (boto3 resource), following LastEvaluatedKey; consistent reads."""
    return _all(table.scan, {"ConsistentRead": True, **kwargs})
