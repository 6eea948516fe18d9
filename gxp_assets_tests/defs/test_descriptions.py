"""The UI explains every asset and check: none shows "No description provided"."""

from __future__ import annotations

from gxp_assets.definitions import defs


def test_every_asset_and_check_has_a_description() -> None:
    graph = defs.resolve_asset_graph()
    bare_assets = [key.to_user_string() for key in graph.get_all_asset_keys() if not graph.get(key).description]
    bare_checks = [str(key) for key in graph.asset_check_keys if not graph.get_check_spec(key).description]
    assert not bare_assets and not bare_checks, (bare_assets, bare_checks)
    assert len(list(graph.asset_check_keys)) >= 10  # the plan's criteria, reconciliation and split checks
