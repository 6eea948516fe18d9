"""The audit trail's head in the Dagster event log: a second anchor, kept outside GXP_HOME.

Every materialization that writes through the artifact IO manager carries the audit head it left behind as
metadata (``audit_head_seq``, ``audit_head_hash``). `gxp audit verify` reads the newest of them back from the
instance in DAGSTER_HOME, so a trail and checkpoint chain rolled back together still disagree with the event log.
"""

from __future__ import annotations

from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter

from gxp_assets.governance.audit import Anchor, AuditEntry

SEQ, HASH = "audit_head_seq", "audit_head_hash"


def head_metadata(entry: AuditEntry) -> dict[str, int | str]:
    return {SEQ: entry.seq, HASH: entry.entry_hash}


def event_log_anchors(instance: DagsterInstance, limit: int = 200) -> list[Anchor]:
    """Audit heads recorded in the newest ``limit`` materializations of the instance, newest first."""
    records = instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_MATERIALIZATION), limit=limit, ascending=False
    )
    anchors: list[Anchor] = []
    for record in records:
        materialization = record.asset_materialization
        metadata = materialization.metadata if materialization else {}
        if SEQ in metadata and HASH in metadata:
            anchors.append((int(metadata[SEQ].value), str(metadata[HASH].value)))
    return anchors
