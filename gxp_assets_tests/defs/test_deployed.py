from gxp_assets.defs.deployed import judged_sources


def test_judged_sources_are_those_the_subgroup_rule_judged_and_passed() -> None:
    record = {
        "acceptance": [
            {"name": "auroc_min", "passed": True},
            {"name": "subgroup_positive_recall_min[literature]", "passed": True},
            {"name": "subgroup_positive_recall_min[social_media]", "passed": False},
        ]
    }
    assert judged_sources(record) == frozenset({"literature"})
    assert judged_sources({"acceptance": []}) == frozenset()
