"""The reviewers' work queue on the aws results table: walks of the sparse queue index (``priority``: PRIORITY and
REVIEW rows, keyed by triage and due date), one per level, merged in due order and read page by page, so a page of
the queue costs the candidates before it, not the whole table."""

from __future__ import annotations

import functools
import heapq
import itertools
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from gxp_assets.stores.aws_dynamo import plain
from gxp_assets.stores.aws_results_rows import INDEX, item_row, item_use_case
from gxp_assets.stores.results_frames import utc_text
from gxp_assets.stores.results_protocol import QueueFilter, queue_levels


def _walk(table: Any, level: str, where: QueueFilter) -> Iterator[dict[str, Any]]:
    """One level's rows of the queue index in due order (filters applied by DynamoDB), read a page at a time."""
    key = Key("queue").eq(level)
    if where.due_before is not None:  # rows without a due date (due_key "~") are never before a time
        key = key & Key("due_key").lt(utc_text(where.due_before, "due_before"))
    kwargs: dict[str, Any] = {"IndexName": "priority", "KeyConditionExpression": key}
    filters = [Attr(name).eq(value) for name, value in (("batch", where.batch), ("source", where.source)) if value]
    if where.use_case:  # rows published before use cases have none: kept here, judged by their model version below
        filters.append(Attr("use_case").eq(where.use_case) | Attr("use_case").not_exists())
    if filters:
        kwargs["FilterExpression"] = functools.reduce(operator.and_, filters)
    while True:
        page = table.query(**kwargs)
        yield from (plain(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def open_queue(
    table: Any, is_open: Callable[[dict[str, Any]], bool], levels: Sequence[str], where: QueueFilter | None
) -> Iterator[tuple]:
    """Rows of the queue in its order (due, then surest, then report id), each kept when ``is_open`` (its report's
    latest scoring, not adjudicated) says so; lazy, so a caller that stops early reads only what it needs."""
    walks = [_walk(table, level, where or QueueFilter()) for level in queue_levels(levels)]
    p_ae, report = INDEX["p_ae"], INDEX["report_id"]
    for _, tied in itertools.groupby(heapq.merge(*walks, key=lambda item: item["due_key"]),
                                     key=lambda item: item["due_key"]):  # fmt: skip
        for row, item in sorted(((item_row(item), item) for item in tied),
                                key=lambda pair: (-pair[0][p_ae], pair[0][report])):  # fmt: skip
            if (not where or not where.use_case or item_use_case(item) == where.use_case) and is_open(item):
                yield row
