"""The queue page's choices and paging over a real local results store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from gxp_assets.console.reviewing import COUNT_AT_MOST, PAGE_SIZE, QueueChoice, queue_page
from gxp_assets.stores.results_local import LocalResultsStore
from gxp_assets_tests.stores.test_results_local import T0, scored


def test_pages_count_up_to_a_cap_and_the_last_page_is_exact(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    n = COUNT_AT_MOST + 60
    with store.writer("big", "run-1") as writer:
        writer.add(scored("big", 0, n, triage="REVIEW"), pd.DataFrame())
    now = T0 + timedelta(days=1)
    first = queue_page(store, QueueChoice(), now)
    assert (first.matching, first.more, len(first.rows)) == (COUNT_AT_MOST, True, PAGE_SIZE)
    last_page = -(-n // PAGE_SIZE)
    last = queue_page(store, QueueChoice(page=last_page), now)
    assert (last.matching, last.more, last.pages) == (n, False, last_page)
    assert len(last.rows) == n - (last_page - 1) * PAGE_SIZE
    everything = store.priority_queue(now, ("PRIORITY", "REVIEW"))
    assert last.rows["report_id"].tolist() == everything["report_id"].iloc[(last_page - 1) * PAGE_SIZE:].tolist()


def test_a_choice_is_read_from_the_form_and_bad_input_is_refused() -> None:
    choice = QueueChoice.from_query({"source": " literature ", "due_before": "2026-03-02", "page": "2"})
    where = choice.store_filter()
    assert (where.source, where.batch) == ("literature", None)
    assert where.due_before is not None and where.due_before.isoformat() == "2026-03-03T00:00:00+00:00"
    assert "page=3" in choice.link(3) and "source=literature" in choice.link(3)
    for bad in ({"page": "0"}, {"page": "x"}, {"due_before": "yesterday"}):
        with pytest.raises(ValueError):
            QueueChoice.from_query(bad)
