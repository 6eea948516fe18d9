"""The model half of the asset graph: classifier -> conformal model -> evaluation on the test split.

What differs between use cases comes from the declaration (``scope.declaration()``): the class and triage outcome
names, the text column if one is declared (its n-grams name the model's columns), else the declared numeric columns
and categorical ``column=level`` tokens.
"""

import json
from dataclasses import replace

import lightgbm as lgb
import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition, Config, MetadataValue, Output, asset
from pydantic import Field

from gxp_assets.core.calibration import choose_calibrator
from gxp_assets.core.column_names import feature_names, tabular_feature_names
from gxp_assets.core.conformal import fit_conformal
from gxp_assets.core.evaluation import held_out_metrics
from gxp_assets.core.explain import used_columns
from gxp_assets.core.features import FeatureMatrix, FeatureSpec
from gxp_assets.core.guarantee import Guarantee
from gxp_assets.core.hashing import sha256_hex
from gxp_assets.core.model import TrainingParams, load_classifier, predict_scores
from gxp_assets.core.model_card import model_card
from gxp_assets.core.plots import coverage_plot, reliability_plot, roc_plot, triage_plot
from gxp_assets.core.scoring import TriageModel
from gxp_assets.core.splits import split_rows
from gxp_assets.core.training import CalibrationNeeds, TrainingData
from gxp_assets.defs.evidence import attach
from gxp_assets.defs.lineage import walk_lineage
from gxp_assets.defs.loaded_inputs import loaded_by
from gxp_assets.defs.metadata import embedded_png, records_table, rounded
from gxp_assets.defs.training_runner import ModelTrainer
from gxp_assets.defs.use_case_scope import MODEL, UseCaseScope
from gxp_assets.governance.plan import ChangeControlPlan
from gxp_assets.governance.use_case import UseCase

_DEFAULTS = TrainingParams()


class ClassifierConfig(Config):
    """LightGBM and linear-part settings; the defaults are the configuration measured in benchmarks/quality.py."""

    learning_rate: float = Field(default=_DEFAULTS.learning_rate, gt=0)
    num_leaves: int = Field(default=_DEFAULTS.num_leaves, ge=2)
    min_data_in_leaf: int = Field(default=_DEFAULTS.min_data_in_leaf, ge=1)
    feature_fraction: float = Field(default=_DEFAULTS.feature_fraction, gt=0, le=1)
    bagging_fraction: float = Field(default=_DEFAULTS.bagging_fraction, gt=0, le=1)
    bagging_freq: int = Field(default=_DEFAULTS.bagging_freq, ge=0)
    lambda_l2: float = Field(default=_DEFAULTS.lambda_l2, ge=0)
    max_bin: int = Field(default=_DEFAULTS.max_bin, ge=2)
    max_rounds: int = Field(default=_DEFAULTS.max_rounds, ge=1)
    early_stopping_rounds: int = Field(default=_DEFAULTS.early_stopping_rounds, ge=1)
    inner_validation_share: float = Field(default=_DEFAULTS.inner_validation_share, gt=0, lt=1)
    min_column_count: int = Field(default=_DEFAULTS.min_column_count, ge=1)
    linear_c: float = Field(
        default=_DEFAULTS.linear_c,
        ge=0,
        description="inverse L2 strength of the linear fit on the text that picks the trees' columns (and joins the "
        "model when tree_weight < 1); 0: no linear fit, the trees get every column",
    )
    tree_weight: float = Field(
        default=_DEFAULTS.tree_weight, ge=0, le=1, description="log-odds = trees x w + linear part x (1 - w)"
    )
    tree_columns: int = Field(
        default=_DEFAULTS.tree_columns, ge=0, description="text columns for the trees, by linear weight; 0: all"
    )
    refit_trees: bool = Field(
        default=_DEFAULTS.refit_trees, description="refit the trees on the whole train split (doubles training time)"
    )
    seed: int = _DEFAULTS.seed
    num_threads: int = Field(default=_DEFAULTS.num_threads, ge=1)

    def params(self) -> TrainingParams:
        return TrainingParams(**self.model_dump())


class ConformalConfig(Config):
    """Levels default to the change control plan's; another level makes the candidate outside the plan."""

    ae_confidence: float | None = Field(
        default=None, gt=0, lt=1, description="guaranteed recall of the positive class (1 - miss rate)"
    )
    no_ae_confidence: float | None = Field(default=None, gt=0, lt=1, description="coverage of the negative class")
    calibration_seed: int = 7


def plan_guarantee(plan: ChangeControlPlan, ae_confidence: float | None = None) -> Guarantee:
    """The plan's recall guarantee, at another level when run config asks (the candidate is then outside the plan)."""
    guarantee = plan.guarantee.core()
    if ae_confidence is not None:
        guarantee = replace(guarantee, miss_rate=round(1 - ae_confidence, 12))
    return guarantee


DISPLAYED_METRICS = ("auroc", "pr_auc", "best_f1", "f1_at_operating_point", "brier", "ece", "ae_recall",
                     "auto_close_share", "review_share")  # fmt: skip


def triage_policy(declared: UseCase, plan: ChangeControlPlan) -> dict:
    """How a prediction set becomes a triage outcome, in the declared outcome names; ``priority_min_p_ae`` is the
    plan's floor on the calibrated probability of the positive class (core.scoring reads it by that name)."""
    triage = declared.triage
    return {
        "{0}": triage.negative.name,
        "{1}": f"{triage.positive.name} when p({_short(declared)}) >= priority_min_p_ae, else {triage.uncertain.name}",
        "{0,1} or {}": triage.uncertain.name,
        "priority_min_p_ae": plan.conformal.positive_min_probability,
    }


def _short(declared: UseCase) -> str:
    """The positive class as the policy writes its probability: its initials when it is several words
    ("adverse event": AE), else its name."""
    words = declared.classes.positive.split()
    return "".join(word[0].upper() for word in words) if 1 < len(words) <= 2 else declared.classes.positive


def model_names(declared: UseCase, spec: FeatureSpec, texts: pd.Series | None) -> dict[int, str]:
    """Readable names of the model's columns: training n-grams of the declared text column (``texts``, the train
    split's), the declared numeric columns, and the declared categorical levels."""
    levels = {feature.column: tuple(feature.levels) for feature in declared.features.categorical}
    named = feature_names(texts, spec) if texts is not None else {}
    return named | tabular_feature_names(spec, levels)


def model_assets(scope: UseCaseScope) -> list[AssetsDefinition]:
    """The model stage of ``scope``'s graph: classifier -> conformal model -> evaluation on the test split."""
    declared = scope.declaration()  # the declaration this graph is built from, read once
    text = bool(declared.features.text)
    columns = (
        "the text columns a linear fit weighs most (plus, with tree_weight < 1, that linear part)"
        if text
        else "the declared numeric and categorical columns"
    )

    @asset(
        **scope.asset_args(MODEL),
        description=f"LightGBM trees on {columns}, fitted on the train split; stored as one JSON text holding "
        "LightGBM's own text format, any linear weights and the training parameters. Training stops first, with "
        "the numbers, when the calibration split cannot support the plan's guarantee.",
    )
    def ae_classifier(
        context: AssetExecutionContext,
        config: ClassifierConfig,
        model_trainer: ModelTrainer,
        report_features: dict,
        dataset_splits: pd.DataFrame,
    ) -> Output[str]:
        data = TrainingData.from_splits(FeatureMatrix.from_arrays(report_features), dataset_splits)
        plan, classes = scope.plan().plan, declared.classes
        needs = CalibrationNeeds(plan_guarantee(plan), plan.conformal.negative_confidence, classes.positive,
                                 classes.negative)  # fmt: skip
        params = config.params()
        context.log.info(
            f"training on {len(data.labels):,} train records ({int(data.labels.sum()):,} {classes.positive}), "
            f"{params.num_threads} threads, {type(model_trainer).__name__}"
        )
        trained, where = model_trainer.train(context, data, params, needs)
        return Output(
            trained.model_text,
            metadata={
                "params": MetadataValue.json(params.to_dict()),
                "best_iteration": trained.best_iteration,
                "inner_fold_auroc_trees": trained.inner_validation_auc,
                "blend": MetadataValue.json(json.loads(trained.model_text).get("blend", {})),
                "training_seconds": round(trained.seconds, 2),
                "train_records": len(data.labels),
                "train_ae": int(data.labels.sum()),
                "feature_spec_sha256": data.train.spec.sha256,
                "lightgbm_version": lgb.__version__,
                **where,
            },
        )

    @asset(
        **scope.asset_args(MODEL),
        description="Class-conditional split conformal sets and calibrated probabilities, fitted on the calibration "
        "split.",
    )
    def conformal_model(
        context: AssetExecutionContext,
        config: ConformalConfig,
        ae_classifier: str,
        report_features: dict,
        dataset_splits: pd.DataFrame,
        validated_reports: pd.DataFrame,
    ) -> Output[dict]:
        features = FeatureMatrix.from_arrays(report_features)
        classifier = load_classifier(ae_classifier)
        X, labels, part = split_rows(features, dataset_splits, "calibration")
        scores = predict_scores(classifier, X)
        plan = scope.plan().plan
        guarantee = plan_guarantee(plan, config.ae_confidence)
        no_ae_confidence = config.no_ae_confidence or plan.conformal.negative_confidence
        conformal = fit_conformal(
            scores,
            labels,
            guarantee.confidence,
            no_ae_confidence,
            guarantee=guarantee,
            units=part["split_group"].to_numpy(),
            sources=part["source"].to_numpy(),
            selection_seed=config.calibration_seed,
        )
        context.log.info(conformal.statement(declared.wording()))
        calibrator = choose_calibrator(scores, labels, seed=config.calibration_seed)
        context.log.info(f"calibration: {calibrator.method} chosen by cross-fitted ECE {calibrator.cross_fitted_ece}")
        train_rows = dataset_splits.loc[dataset_splits["split"] == "train", "row"].to_numpy()
        used = set(used_columns(classifier).tolist())
        text_column = features.spec.text_column
        texts = validated_reports[text_column].iloc[train_rows] if text_column else None
        names = {column: name for column, name in model_names(declared, features.spec, texts).items() if column in used}
        record = {
            "model_sha256": sha256_hex(ae_classifier.encode()),
            "feature_spec": features.spec.to_dict(),
            "conformal": conformal.to_dict(declared.wording()),
            "calibration": calibrator.to_dict(),
            "feature_names": {str(column): names[column] for column in sorted(names)},
            "triage_policy": triage_policy(declared, plan),
        }
        return Output(
            record,
            metadata={
                "calibration_records": len(labels),
                "positive_class": declared.classes.positive,
                "calibration_ae": int(labels.sum()),
                "calibration_ae_documents": int(part.loc[part["label"] == 1, "split_group"].nunique()),
                "guarantee": MetadataValue.md(record["conformal"]["statement"]),
                "guarantee_settings": MetadataValue.json(guarantee.to_dict()),
                "ae_confidence": guarantee.confidence,
                "no_ae_confidence": no_ae_confidence,
                "auto_close_sources": ", ".join(conformal.auto_close_sources()) or "none",
                "thresholds": MetadataValue.json(record["conformal"]["thresholds"]),
                "calibration_method": calibrator.method,
                "cross_fitted_ece": MetadataValue.json(calibrator.cross_fitted_ece),
                "named_features": len(names),
            },
        )

    @asset(
        **scope.asset_args(MODEL),
        description="Metrics, plots, explanations and the model card, on the test split only.",
    )
    def model_evaluation(
        context: AssetExecutionContext,
        ae_classifier: str,
        conformal_model: dict,
        report_features: dict,
        dataset_splits: pd.DataFrame,
    ) -> Output[dict]:
        features = FeatureMatrix.from_arrays(report_features)
        X, labels, part = split_rows(features, dataset_splits, "test")  # the test split, and nothing else
        model = TriageModel.from_records(ae_classifier, conformal_model)
        metrics, scored = held_out_metrics(model, X, labels, part["source"].to_numpy())
        confidence = conformal_model["conformal"]["confidence"]
        examples = np.argsort(-scored.p_ae)[:3].tolist() + np.argsort(scored.p_ae)[:2].tolist()
        metrics["example_explanations"] = [
            {
                "report_id": part["report_id"].iloc[i],
                "p_ae": float(scored.p_ae[i]),
                "top_features": scored.explanations[i],
            }
            for i in examples
        ]
        training = {
            "model_sha256": model.model_sha256,
            "feature_spec_sha256": features.spec.sha256,
            "sentence_encoder": features.spec.sentence_encoder,
            "data_versions": {  # what this step loaded, and the corpus its splits were made from
                name: facts["data_version"]
                for name, facts in walk_lineage(context.instance, scope, loaded_by(context)).assets.items()
                if name in ("validated_reports", "dataset_splits")
            },
            "split_sizes": {str(name): int(count) for name, count in dataset_splits["split"].value_counts().items()},
        }
        card = model_card(
            metrics,
            training,
            {
                "confidence": confidence,
                "calibration_method": conformal_model["calibration"]["method"],
                "statement": conformal_model["conformal"]["statement"],
            },
            declared.card_use(),
        )
        plots = {
            "roc": roc_plot(metrics),
            "reliability": reliability_plot(metrics),
            "coverage": coverage_plot(metrics, confidence, metrics["marginal_lac_coverage"]),
            "triage": triage_plot(metrics),
        }
        refs = {name: attach(context, f"plots/{name}", png, ".png") for name, png in plots.items()}
        card_ref = attach(context, "model_card", card.encode(), ".md")
        outcomes = declared.triage
        context.log.info(
            f"test AUROC {metrics['auroc']:.4f}, positive recall {metrics['ae_recall']:.4f}, "
            f"{outcomes.negative.name} {metrics['auto_close_share']:.4f}"
        )
        return Output(
            {
                "metrics": metrics,
                "model_card": card,
                "plots": {name: ref.sha256 for name, ref in refs.items()},
                "split_sizes": training["split_sizes"],
                "confidence": confidence,
                "guarantee_statement": conformal_model["conformal"]["statement"],
            },
            metadata={
                **{name: rounded(metrics[name]) for name in DISPLAYED_METRICS},  # exact values in the artifact
                "ae_target": rounded(confidence["1"]),
                "test_records": metrics["n"],
                "subgroups": records_table(metrics["subgroups"]),
                "model_card": MetadataValue.md(card),
                "model_card_file": MetadataValue.path(card_ref.uri.removeprefix("file://")),
                **{f"plot_{name}": embedded_png(name, png) for name, png in plots.items()},
            },
        )

    return [ae_classifier, conformal_model, model_evaluation]
