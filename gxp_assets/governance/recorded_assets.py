"""Where the artifacts a model record names are stored: one answer for every reader of a record's lineage.

A record's lineage names each asset by its name within the use case (``lineage.assets.ae_classifier``) and, since
the asset-graph factory, also its full asset key (``asset_key``: ``ae_triage/ae_classifier``), which is the name
the artifact store keeps it under. Records written before the factory carry no ``asset_key``: their artifacts are
stored under the bare name.
"""

from __future__ import annotations

from collections.abc import Mapping


def recorded_asset(record: Mapping, asset: str) -> tuple[str, str | None]:
    """The stored name of ``asset`` in ``record``'s lineage and the data version it names (None: names none)."""
    facts = ((record.get("lineage") or {}).get("assets") or {}).get(asset) or {}
    return str(facts.get("asset_key") or asset), facts.get("data_version")
