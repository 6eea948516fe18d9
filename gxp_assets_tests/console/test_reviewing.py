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


def test_a_use_case_is_chosen_and_a_verdict_is_recorded_in_the_use_case_of_the_scoring(gxp_home: Path) -> None:
    from datetime import UTC, datetime

    from gxp_assets.console.reviewing import adjudicate, latest_scoring
    from gxp_assets.stores import open_governance, results_store

    choice = QueueChoice.from_query({"use_case": " dissolution_risk "})
    assert choice.store_filter().use_case == "dissolution_risk" and "use_case=dissolution_risk" in choice.link(1)
    store, governance, now = results_store(), open_governance(), datetime.now(UTC)
    with store.writer("ae-1", "run-1", use_case="ae_triage") as writer:
        writer.add(scored("ae-1", 0, 2, triage="PRIORITY", scored_at=pd.Timestamp(now)), pd.DataFrame())
    later = pd.Timestamp(now) + pd.Timedelta(hours=1)
    with store.writer("dr-1", "run-2", use_case="dissolution_risk") as writer:  # r1 is an id of both use cases
        writer.add(scored("dr-1", 1, 2, model_version="dissolution_risk-0123456789ab", scored_at=later), pd.DataFrame())
    assert latest_scoring(store, "r1")["case"] == "dissolution_risk"  # type: ignore[index]
    assert latest_scoring(store, "r1", "ae_triage")["batch"] == "ae-1"  # type: ignore[index]
    assert adjudicate(store, governance, "r1", 1, "seen in the source", "rita", now, "ae_triage") is None
    assert store.adjudicated(use_case="ae_triage")["batch"].tolist() == ["ae-1"]
    assert store.adjudicated(use_case="dissolution_risk").empty
    why = adjudicate(store, governance, "r2", 0, "checked", "rita", now, "ae_triage")  # r2: dissolution_risk's only
    assert why is not None and "never scored in this use case" in why
    assert adjudicate(store, governance, "r2", 0, "checked", "rita", now) is None  # the scoring's own use case
    assert store.adjudicated(use_case="dissolution_risk")["report_id"].tolist() == ["r2"]
    [entry] = [e for e in governance.audit.entries() if e.action == "adjudication" and e.subject == "r2"]
    assert entry.details["use_case"] == "dissolution_risk"
