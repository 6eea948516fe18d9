"""The outbox notifier against real files under tmp_path."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gxp_assets.stores.notifier import LocalOutboxNotifier, Notification, outbox

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def message(kind: str = "priority_reports", at: datetime = T0, **payload: object) -> Notification:
    return Notification(kind, f"{kind} subject", "Open the queue with `gxp queue`.", dict(payload), at)


def test_a_message_is_one_readable_json_file_named_by_time_and_kind(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = LocalOutboxNotifier(tmp_path)
    with caplog.at_level(logging.WARNING, logger="gxp.notify"):
        where = notifier.send(message(reports=[{"report_id": "r1", "due_at": T0 + timedelta(days=15)}]))
    path = Path(where)
    assert path.parent == tmp_path / "outbox"
    assert path.name.startswith("20260301T120000000000Z-priority_reports-") and path.suffix == ".json"
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "kind": "priority_reports",
        "subject": "priority_reports subject",
        "body": "Open the queue with `gxp queue`.",
        "payload": {"reports": [{"report_id": "r1", "due_at": "2026-03-16T12:00:00+00:00"}]},
        "created_at": "2026-03-01T12:00:00.000000+00:00",
    }
    assert [(record.name, record.levelno) for record in caplog.records] == [("gxp.notify", logging.WARNING)]
    assert "priority_reports subject" in caplog.records[0].getMessage()


def test_the_outbox_reads_back_in_the_order_sent(tmp_path: Path) -> None:
    notifier = LocalOutboxNotifier(tmp_path)
    notifier.send(message("retraining_requested", T0 + timedelta(minutes=1)))
    notifier.send(message("priority_reports", T0))
    notifier.send(message("priority_reports", T0 + timedelta(microseconds=1), batch="b2"))
    assert [(m["kind"], m["created_at"], m["payload"]) for m in outbox(tmp_path)] == [
        ("priority_reports", "2026-03-01T12:00:00.000000+00:00", {}),
        ("priority_reports", "2026-03-01T12:00:00.000001+00:00", {"batch": "b2"}),
        ("retraining_requested", "2026-03-01T12:01:00.000000+00:00", {}),
    ]
    assert outbox(tmp_path / "nowhere") == []


def test_a_message_that_cannot_be_written_leaves_no_file(tmp_path: Path) -> None:
    notifier = LocalOutboxNotifier(tmp_path)
    with pytest.raises(ValueError):
        notifier.send(message(score=float("nan")))  # not JSON
    with pytest.raises(TypeError):
        notifier.send(message(blob=object()))
    assert list((tmp_path / "outbox").iterdir()) == []
    with pytest.raises(ValueError, match="time zone"):
        Notification("x", "s", "b", {}, datetime(2026, 3, 1))


def test_a_reader_never_sees_half_a_message(tmp_path: Path) -> None:
    """A reader polling the newest file while large messages are written always finds a whole message."""
    notifier = LocalOutboxNotifier(tmp_path)
    folder = tmp_path / "outbox"
    done = threading.Event()
    parsed: list[int] = []
    failures: list[str] = []

    def read_newest() -> None:
        while not done.is_set():
            names = sorted(folder.glob("*.json"))
            if names:
                content = names[-1].read_bytes()  # cheap check in the loop, so it runs often during a write
                if content.endswith(b"}\n"):
                    parsed.append(len(content))
                else:
                    failures.append(f"{names[-1].name}: {len(content)} bytes, not a whole message")

    reader = threading.Thread(target=read_newest)
    reader.start()
    try:
        for number in range(60):
            notifier.send(message(at=T0 + timedelta(seconds=number), rows=["x" * 1_000] * 2_000))
    finally:
        done.set()
        reader.join()
    assert failures == []
    assert parsed
    assert [len(sent["payload"]["rows"]) for sent in outbox(tmp_path)] == [2_000] * 60
    assert [path.name for path in folder.iterdir() if not path.name.endswith(".json")] == []  # no temp files left


def test_a_message_with_a_dedupe_key_is_sent_once_even_by_concurrent_senders(tmp_path: Path) -> None:
    import concurrent.futures

    def send(i: int) -> str:
        message = Notification("priority_reports", f"batch b ({i})", "body", {"i": i}, dedupe_key="priority:b:v1")
        return LocalOutboxNotifier(tmp_path).send(message)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(8)))
    assert len(outbox(tmp_path)) == 1
    assert sum(not r.startswith("already sent") for r in results) == 1
    LocalOutboxNotifier(tmp_path).send(Notification("priority_reports", "other", "body", dedupe_key="priority:c:v1"))
    assert len(outbox(tmp_path)) == 2
