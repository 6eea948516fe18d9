"""The fast explanation JSON is json.dumps(ensure_ascii=False), byte for byte, whatever the entries hold."""

from __future__ import annotations

import json

import pytest

from gxp_assets.core.batch_scoring import explanation_json

ODD = ['say "no"', "back\\slash", "tab\there", "new\nline", "caf\u00e9 \u202e", "\ud800x", "(words absent)", ""]


@pytest.mark.parametrize("feature", ODD)
@pytest.mark.parametrize("value", [0.123456, -0.0, 1e-07, -12.5, 3.0, float("nan"), float("inf")])
def test_explanation_json_is_json_dumps(feature: str, value: float) -> None:
    entries = [{"feature": feature, "present": value > 0, "contribution": value}, {"feature": "x", "present": False,
               "contribution": round(0.1 + 0.2, 6)}]  # fmt: skip
    assert explanation_json(entries) == json.dumps(entries, ensure_ascii=False)


def test_other_shapes_go_through_json_dumps() -> None:
    for entries in ([], [{"contribution": 1.0, "feature": "a", "present": True}], [{"feature": 1, "present": 1}]):
        assert explanation_json(entries) == json.dumps(entries, ensure_ascii=False)
