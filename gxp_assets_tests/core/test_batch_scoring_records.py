"""A batch file of declared records scored end to end by the one batch scorer (core.batch_scoring.score_batch).

The model is trained here in core, as test_tabular_training.py trains it, on the declared dissolution_risk use case;
batches are written as the synthetic generator writes them (semicolons, decimal commas), with spoilt cells, an
undeclared supplier and a shifted process. Every record must end scored or quarantined with a reason, an undeclared
level must go to REVIEW, and a drifted batch must have no fast-route decision published.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from gxp_assets.core.batch_records import generate_batch_records, write_batch_records
from gxp_assets.core.batch_scoring import BatchOutcome, ScoringStamp, score_batch
from gxp_assets.core.calibration import choose_calibrator
from gxp_assets.core.conformal import fit_conformal
from gxp_assets.core.contracts import SCORED_COLUMNS
from gxp_assets.core.domain_shift import DOMAIN_MIN_Z
from gxp_assets.core.fail_safe import SUSPENSION_PREFIX, FailSafe
from gxp_assets.core.features import FeatureMatrix, featurize
from gxp_assets.core.guarantee import Guarantee
from gxp_assets.core.hashing import sha256_hex
from gxp_assets.core.model import TrainingParams, load_classifier, predict_scores
from gxp_assets.core.plots import record_drift_plot
from gxp_assets.core.record_domain import RecordSampler
from gxp_assets.core.record_files import validated_records
from gxp_assets.core.record_reference import build_record_reference
from gxp_assets.core.record_scoring import RecordReader
from gxp_assets.core.scoring import TriageModel
from gxp_assets.core.splits import SplitPlan, assign_record_splits, split_rows
from gxp_assets.core.training import TrainingData, train_model
from gxp_assets.governance.plan import load_plan
from gxp_assets.governance.use_case import USE_CASES_ROOT, load_use_case
from gxp_assets.stores.results_frames import quarantine_frame

NOW = datetime(2030, 1, 1, tzinfo=UTC)  # after the last of 3,400 synthetic batches (2 to 12 h apart from 2026)
PARAMS = TrainingParams(linear_c=0.0, max_rounds=200, num_threads=1)
TRAIN, BATCH = 3000, 400  # one generator run: the first 3,000 batches train, the next 400 are scored


class ListSink:
    def __init__(self) -> None:
        self.predictions: list[pd.DataFrame] = []
        self.quarantined: list[pd.DataFrame] = []

    def add(self, predictions: pd.DataFrame, quarantined: pd.DataFrame) -> None:
        self.predictions.append(predictions)
        self.quarantined.append(quarantined)

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return pd.concat(self.predictions, ignore_index=True), pd.concat(self.quarantined, ignore_index=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    loaded = load_use_case(USE_CASES_ROOT / "dissolution_risk")
    use_case, plan = loaded.use_case, load_plan(loaded.plan_path).plan
    folder = tmp_path_factory.mktemp("records")
    records = generate_batch_records(TRAIN + BATCH, seed=0)
    write_batch_records(folder / "training.csv", records.iloc[:TRAIN])
    valid = validated_records(folder / "training.csv", use_case.record_contract(), "training", NOW).valid
    spec = use_case.feature_spec()
    features = FeatureMatrix(valid["batch_id"].to_numpy(dtype=str), featurize(valid, spec), spec)
    splits = assign_record_splits(valid, "batch_id", "product_code", SplitPlan(), subgroup_column="site")
    trained = train_model(TrainingData.from_splits(features, splits), PARAMS, needs=None)
    classifier = load_classifier(trained.model_text)
    X_cal, labels, part = split_rows(features, splits, "calibration")
    scores = predict_scores(classifier, X_cal)
    guarantee = Guarantee(miss_rate=plan.guarantee.miss_rate, delta=plan.guarantee.delta, unit="record",
                          by_source=False)  # fmt: skip
    conformal = fit_conformal(scores, labels, guarantee.confidence, plan.conformal.negative_confidence,
                              guarantee=guarantee, units=part["split_group"].to_numpy())  # fmt: skip
    model = TriageModel(classifier, sha256_hex(trained.model_text.encode()), conformal,
                        choose_calibrator(scores, labels, seed=7), {},
                        priority_min_p_ae=plan.conformal.positive_min_probability)  # fmt: skip
    X_test, _, test = split_rows(features, splits, "test")
    scored = model.score(X_test, test["source"].to_numpy())
    train_rows = splits.loc[splits["split"] == "train", "row"].to_numpy()
    reference = build_record_reference(valid.iloc[train_rows], valid.iloc[test["row"].to_numpy()], spec,
                                       scored.raw_scores, scored.triage, test["source"].tolist(),
                                       sample_records=valid.iloc[splits["row"].to_numpy()],
                                       sample_ids=splits["report_id"].tolist())  # fmt: skip
    fail_safe = FailSafe(reference, plan.retraining_triggers.drift.core(), suspend_on_drift=True)
    return {"use_case": use_case, "model": model, "fail_safe": fail_safe, "batch": records.iloc[TRAIN:],
            "folder": folder, "reference": reference}  # fmt: skip


def score(world: dict, frame: pd.DataFrame, name: str, bad_rows: int = 0, chunk_records: int = 150) -> tuple:
    path = world["folder"] / f"{name}.csv"
    spoilt = write_batch_records(path, frame, bad_rows=bad_rows, seed=3)
    use_case = world["use_case"]
    stamp = ScoringStamp(name, "dissolution_risk-test", "PCCP-DISSOLUTION-RISK 3.0.0", "run-1", NOW, None)
    sink, seen = ListSink(), []
    reader = RecordReader(use_case.record_contract(), use_case.feature_spec(), NOW)

    def before(outcome: BatchOutcome) -> None:
        seen.append(len(sink.predictions))  # how many chunks reached the sink before the batch was judged

    outcome = score_batch(path, reader, world["model"], stamp, sink, fail_safe=world["fail_safe"],
                          before_publishing=before, chunk_records=chunk_records)  # fmt: skip
    predictions, quarantined = sink.tables()
    assert seen == [0]  # measured, and any suspension decided, before the first row was published
    return outcome, predictions, quarantined, spoilt


def test_every_record_is_scored_or_quarantined_with_its_reason(world: dict) -> None:
    batch = world["batch"].copy()
    batch.loc[batch.index[[5, 17, 230]], "excipient_supplier"] = "SUP-D"  # a supplier the declaration does not list
    batch = pd.concat([batch, batch.iloc[[40]]])  # one batch record sent twice
    outcome, predictions, quarantined, spoilt = score(world, batch, "mixed", bad_rows=9)
    tally = outcome.tally
    assert tally.received == len(batch) == len(predictions) + len(quarantined) and tally.chunks == 3
    assert sorted([*predictions["intake_seq"], *quarantined["intake_seq"]]) == list(range(len(batch)))
    expected = {"missing": "missing_field", "out_of_range": "out_of_range", "wrong_decimal": "invalid_number"}
    held = quarantined.set_index("source_line")
    for cell in spoilt:  # each spoilt cell quarantined for its own reason, the detail naming its column
        row = held.loc[cell.row + 2]
        assert row["reason"] == expected[cell.kind] and cell.column in row["detail"]
    assert set(quarantined["reason"]) == {"missing_field", "out_of_range", "invalid_number", "duplicate_id"}
    twice = quarantined[quarantined["reason"] == "duplicate_id"].iloc[0]  # held under the results contract's names
    assert (twice["report_id"], twice["document_id"], twice["source"]) == tuple(batch.iloc[40][
        ["batch_id", "product_code", "site"]])  # fmt: skip
    assert len(quarantine_frame(quarantined)) == len(quarantined)  # what the results store keeps of them
    assert list(predictions.columns) == list(SCORED_COLUMNS)
    # The declaration's mapping onto the results contract.
    first = predictions.iloc[0]
    source = batch.iloc[0]
    assert (first["report_id"], first["document_id"], first["source"]) == (
        source["batch_id"], source["product_code"], source["site"])  # fmt: skip
    assert first["received_at"] == source["manufactured_at"] and predictions["due_at"].isna().all()  # no clock
    assert f"mgst_pct={source['mgst_pct']:g} % w/w" in first["text"] and "excipient_supplier=" in first["text"]
    lines = (world["folder"] / "mixed.csv").read_bytes().split(b"\n")
    assert first["input_sha256"] == sha256_hex(lines[int(first["source_line"]) - 1] + b"\n")  # the line as received


def test_an_undeclared_level_is_scored_and_sent_to_review_naming_it(world: dict) -> None:
    batch = world["batch"].copy()
    batch.loc[batch.index[[5, 17, 230]], "excipient_supplier"] = "SUP-D"
    _, predictions, _, _ = score(world, batch, "unknown_level")
    unknown = predictions[predictions["report_id"].isin(batch["batch_id"].iloc[[5, 17, 230]])]
    assert len(unknown) == 3 and (unknown["triage"] == "REVIEW").all()
    assert unknown["triage_reason"].str.contains("unknown level excipient_supplier=SUP-D", regex=False).all()
    others = predictions.drop(unknown.index)
    assert not others["triage_reason"].str.contains("unknown level").any()


def test_a_batch_like_the_training_batches_keeps_the_fast_route(world: dict) -> None:
    outcome, predictions, _, _ = score(world, world["batch"], "steady")
    drift = outcome.drift
    assert drift is not None and drift.alarms == [] and outcome.suspension is None
    # The domain classifier on all declared columns: measured (the declaration asks for it), and near 0.5.
    assert drift.domain_rows == len(predictions) and drift.domain_auc is not None and drift.domain_auc_z is not None
    assert abs(drift.domain_auc - 0.5) < 0.1 and drift.domain_auc_z < DOMAIN_MIN_Z, drift.to_dict()
    assert {column.column for column in drift.columns} == set(world["use_case"].features.columns())
    assert (predictions["triage"] == "AUTO_CLOSE").sum() > 0


def test_a_shifted_batch_alarms_per_feature_and_suspends_the_fast_route(world: dict) -> None:
    shifted = world["batch"].copy()
    shifted["mgst_pct"] = (shifted["mgst_pct"] + 0.6).round(2)  # over-lubrication: more magnesium stearate
    shifted["lubricant_blend_time_min"] = (shifted["lubricant_blend_time_min"] * 2).round(1)
    outcome, predictions, _, _ = score(world, shifted, "shifted")
    drift = outcome.drift
    assert drift is not None and any(alarm.startswith("mgst_pct psi") for alarm in drift.alarms)
    assert any(alarm.startswith("lubricant_blend_time_min psi") for alarm in drift.alarms)
    mgst = next(column for column in drift.columns if column.column == "mgst_pct")
    assert mgst.psi is not None and mgst.psi > 0.25 and mgst.out_of_range_share is not None
    assert outcome.suspension is not None and outcome.suspension.startswith(SUSPENSION_PREFIX)
    assert (predictions["triage"] != "AUTO_CLOSE").all() and outcome.tally.suspended > 0
    assert predictions.loc[predictions["triage_reason"].str.startswith(SUSPENSION_PREFIX), "triage"].eq("REVIEW").all()
    values = drift.to_dict()
    assert values["kind"] == "records" and values["drifted"] is True
    png = record_drift_plot(values, world["reference"].to_dict())
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_a_joint_shift_with_every_column_as_usual_alarms_on_domain_auc_and_suspends(world: dict) -> None:
    # A press fault: hardness no longer rises with compression force but falls with it. Each column holds the same
    # values as the steady batch (hardness reordered only), so no per-column measure can see it.
    shifted = world["batch"].copy()
    by_force = np.argsort(shifted["compression_force_kn"].to_numpy(), kind="stable")
    hardness = shifted["tablet_hardness_n"].to_numpy().copy()
    hardness[by_force] = np.sort(hardness)[::-1]
    shifted["tablet_hardness_n"] = hardness
    outcome, predictions, _, _ = score(world, shifted, "joint")
    drift = outcome.drift
    assert drift is not None and drift.domain_auc is not None and drift.domain_auc_z is not None
    assert drift.domain_auc > 0.8 and drift.domain_auc_z >= DOMAIN_MIN_Z, (drift.domain_auc, drift.domain_auc_z)
    assert [alarm for alarm in drift.alarms if not alarm.startswith("domain_auc")] == [], drift.alarms
    assert f"domain_auc {drift.domain_auc:.4g} > 0.8" in drift.alarms
    assert all(column.psi is None or column.psi <= 0.25 for column in drift.columns)
    assert outcome.suspension is not None and outcome.suspension.startswith(SUSPENSION_PREFIX)
    assert "domain_auc" in outcome.suspension and outcome.tally.suspended > 0
    assert (predictions["triage"] != "AUTO_CLOSE").all()
    values = drift.to_dict()
    assert (values["domain_auc"], values["domain_auc_z"], values["domain_rows"]) == (
        drift.domain_auc, drift.domain_auc_z, len(predictions))  # fmt: skip


def test_the_domain_sample_is_the_same_whatever_the_chunk_size(world: dict) -> None:
    whole, _, _, _ = score(world, world["batch"], "chunked", chunk_records=1000)
    small, _, _, _ = score(world, world["batch"], "chunked", chunk_records=37)
    assert (whole.tally.chunks, small.tally.chunks) == (1, 11)
    assert whole.drift is not None and small.drift is not None and whole.drift.domain_auc is not None
    assert (small.drift.domain_auc, small.drift.domain_auc_z, small.drift.domain_rows) == (
        whole.drift.domain_auc, whole.drift.domain_auc_z, whole.drift.domain_rows)  # fmt: skip
    # The sampler itself: the bottom-k by id of the whole batch, bounded, for any cut of the stream.
    records, spec = world["batch"].reset_index(drop=True), world["use_case"].feature_spec()
    kept = []
    for size in (len(records), 50, 7):
        sampler = RecordSampler(spec, size=100)
        for start in range(0, len(records), size):
            sampler.add(records["batch_id"].iloc[start : start + size].tolist(), records.iloc[start : start + size])
            assert len(sampler.kept()) <= 100
        kept.append(sampler.kept())
    assert kept[0] == kept[1] == kept[2] and len(kept[0]) == 100
    assert kept[0] != [tuple(row) for row in records.iloc[:100][list(spec.numeric_columns)].itertuples()]


def test_outcome_names_come_from_the_declaration() -> None:
    use_case = load_use_case(USE_CASES_ROOT / "dissolution_risk").use_case
    assert use_case.outcome_counts({"AUTO_CLOSE": 5, "PRIORITY": 1}) == {
        "RELEASE_REVIEW_NOT_NEEDED": 5, "REVIEW": 0, "HOLD": 1}  # fmt: skip
    assert load_use_case(USE_CASES_ROOT / "ae_triage").use_case.outcome_name("AUTO_CLOSE") == "AUTO_CLOSE"
    with pytest.raises(ValueError, match="not a triage code"):
        use_case.outcome_name("RELEASE")
