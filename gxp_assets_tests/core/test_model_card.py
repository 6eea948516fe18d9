"""The model card and the stored guarantee statement speak the words their use case declares."""

from __future__ import annotations

import re

import numpy as np

from gxp_assets.core.conformal import Wording, fit_conformal
from gxp_assets.core.guarantee import Guarantee
from gxp_assets.core.model_card import model_card
from gxp_assets.governance.use_case import USE_CASES_ROOT, UseCase, load_use_case


def declared(use_case: str) -> UseCase:
    return load_use_case(USE_CASES_ROOT / use_case).use_case


def evaluation() -> dict:
    return {
        "n": 400, "ae": 40, "auroc": 0.85, "pr_auc": 0.4, "best_f1": 0.4, "f1_at_operating_point": 0.3,
        "brier": 0.05, "ece": 0.03, "ae_recall": 0.95, "coverage": {"0": 0.92}, "auto_close_share": 0.4,
        "review_share": 0.55, "priority_share": 0.05, "priority_precision": 0.4,
        "subgroups": [{"source": "DE-MUC", "n": 200, "ae": 20, "auroc": 0.84, "ae_recall": 0.95,
                       "auto_close_share": 0.4}],
    }  # fmt: skip


def card_of(use_case: str, statement: str | None = None) -> str:
    training = {"model_sha256": "ab" * 32, "feature_spec_sha256": "cd" * 32, "data_versions": {},
                "split_sizes": {"train": 1000, "calibration": 400, "test": 400}}  # fmt: skip
    conformal = {"confidence": {"0": 0.95, "1": 0.9}, "calibration_method": "sigmoid", "statement": statement}
    return model_card(evaluation(), training, conformal, declared(use_case).card_use())


def test_a_tabular_use_cases_card_names_its_outcomes_subgroup_and_features_and_never_an_adverse_event() -> None:
    card = card_of("dissolution_risk")
    assert card.startswith("# Model card: dissolution_risk model abababababab")
    assert "immediate-release film-coated tablet" in card  # the declared intended use
    assert "| RELEASE_REVIEW_NOT_NEEDED / REVIEW / HOLD |" in card and "precision of HOLD" in card
    assert "## Performance by site" in card and "numeric columns, categorical levels" in card
    assert not re.search(r"\bAE\b|adverse|AUTO_CLOSE|PRIORITY|n-gram", card)


def test_ae_triage_keeps_its_words() -> None:
    card = card_of("ae_triage")
    assert "| AUTO_CLOSE / REVIEW / PRIORITY |" in card and "realized AE recall" in card
    assert "## Performance by source" in card and "Hashed n-grams can collide" in card
    assert declared("ae_triage").wording() == Wording()  # AE's stored statements read as they always did


def test_the_stored_statement_is_worded_by_the_declaration() -> None:
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(60, dtype=int), np.zeros(240, dtype=int)]
    scores = np.where(labels == 1, rng.uniform(0.4, 1.0, 300), rng.uniform(0.0, 0.6, 300))
    guarantee = Guarantee(type="pac", miss_rate=0.1, delta=0.1, unit="record", by_source=False)
    conformal = fit_conformal(scores, labels, 0.9, 0.95, guarantee=guarantee, units=np.arange(300).astype(str))
    statement = conformal.to_dict(declared("dissolution_risk").wording())["statement"]
    assert "routed RELEASE_REVIEW_NOT_NEEDED" in statement and "'dissolution below specification'" in statement
    assert "AE" not in statement and "auto-closed" not in statement
    assert conformal.to_dict()["statement"] == conformal.statement(Wording())
