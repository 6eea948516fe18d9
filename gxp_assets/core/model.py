"""Deterministic training on the train split: LightGBM trees, optionally plus linear parts on the text.

Same inputs and parameters give byte-identical model text: fixed seeds, ``deterministic=True`` and a fixed thread
count. The trees are fitted on the train split less an inner fold (whole split groups, by hash) on which early
stopping picks the number of rounds, never on calibration or test data, then refitted on the whole train split
with that many rounds (``refit_trees``). With ``linear_c > 0`` (the default) the trees get only the
``tree_columns`` text columns that a linear fit on the same rows weighs most: fewer but better columns, since each
round costs time per column. With ``tree_weight < 1`` that linear part also joins the model, refitted on the whole
train split, and the log-odds add. With a sentence block in the features, a small network on the embedding (never
read by the trees) adds ``sentence_weight`` of the log-odds. The stored text is a JSON document holding
LightGBM's own text format, the linear weights (if any) and the training parameters; a model text in LightGBM's
format alone (models built before) still loads, as trees alone.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from gxp_assets.core.hashing import canonical_json, unit_interval
from gxp_assets.core.linear import LinearPart, fit_linear, text_columns
from gxp_assets.core.sentence_head import SentenceHead, fit_sentence_head

MODEL_FORMAT = "gxp-classifier/1"
#: Rows scored at a time by :meth:`Classifier.log_odds`.
PREDICT_BLOCK_ROWS = 5_000


@dataclass(frozen=True)
class TrainingParams:
    """Defaults tuned on an inner fold of the ADE train split (see benchmarks/quality.py for the measured result)."""

    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 10
    feature_fraction: float = 0.5
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    max_bin: int = 63
    max_rounds: int = 800
    early_stopping_rounds: int = 50
    inner_validation_share: float = 0.2
    min_column_count: int = 10  # columns with fewer non-zeros in the train split are left out of the model
    # C of an L2 logistic regression on the text blocks that picks the trees' columns; 0 = no linear fit, all
    # columns. The 10,000 columns it weighs most train the trees in about 40 % of the CPU time at the same quality
    # (benchmarks/training.py, 10 ADE seeds, paired); with tree_weight < 1 it also joins the model, which 50 seeds
    # of benchmarks/quality.py measured as a loss (with learning_rate 0.1 and no refit), so by default it does not.
    linear_c: float = 8.0
    tree_weight: float = 1.0  # log-odds = trees x tree_weight + linear x (1 - tree_weight); 1 = trees alone
    tree_columns: int = 10_000  # the trees get this many text columns, those the linear part weighs most; 0 = all
    refit_trees: bool = True  # refit the trees on the whole train split with the rounds early stopping chose
    # With a sentence block in the features: a one-hidden-layer network on it (core/sentence_head.py) joins the
    # model with this share of the log-odds, the rest being the trees' (6 ADE seeds: 0.3 of a network of 256 units
    # against a logistic regression, see sentence_head.py). The trees never read the block.
    sentence_units: int = 256
    sentence_weight: float = 0.3
    seed: int = 7
    num_threads: int = 2

    def lightgbm_params(self) -> dict:
        return {
            "objective": "binary",
            "metric": "auc",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": self.num_threads,
            "verbosity": -1,
        }

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Blend:
    """How the parts' log-odds add: ``trees * tree log-odds + linear * linear decision + sentence * its decision``."""

    trees: float = 1.0
    linear: float = 0.0
    sentence: float = 0.0


@dataclass(frozen=True)
class Classifier:
    """The trees, the optional linear part and their blend; scores full-width feature rows."""

    booster: lgb.Booster
    linear: LinearPart | None = None
    blend: Blend = Blend()
    training: dict | None = None  # the TrainingParams it was fitted with, so that it can be rebuilt from its text
    sentence: SentenceHead | None = None  # the network on the sentence embedding, if the features have one

    @property
    def named_parts(self) -> list[tuple[str, LinearPart | SentenceHead, float]]:
        """The parts beside the trees that move the log-odds: name, part, blend weight."""
        parts = [("linear", self.linear, self.blend.linear), ("sentence_network", self.sentence, self.blend.sentence)]
        return [(name, part, weight) for name, part, weight in parts if part is not None and weight]

    @property
    def linear_parts(self) -> list[tuple[LinearPart | SentenceHead, float]]:
        """The parts beside the trees that move the log-odds, with their blend weights."""
        return [(part, weight) for _, part, weight in self.named_parts]

    @property
    def family(self) -> str:
        """What the model is made of, as a change control plan's ``model_family`` names it: the trees, then each part
        that moves the log-odds (``lightgbm+sentence_network`` by default)."""
        return "+".join(["lightgbm", *(name for name, _, _ in self.named_parts)])

    @cached_property
    def tree_columns(self) -> np.ndarray:
        """The feature-matrix columns the trees read; kept, as LightGBM hands out its feature names one by one."""
        return model_columns(self.booster)

    @cached_property
    def columns(self) -> np.ndarray:
        """The feature-matrix columns any part reads, ascending."""
        columns = self.tree_columns
        for part in (self.linear, self.sentence):
            columns = columns if part is None else np.union1d(columns, part.columns)
        return columns

    def inputs(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """Full-width feature rows cut to ``columns``."""
        return sp.csr_matrix(X)[:, self.columns]

    def tree_inputs(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """Full-width feature rows cut to the trees' columns, in the order the booster reads them."""
        return sp.csr_matrix(X)[:, self.tree_columns]

    def log_odds(self, X: sp.csr_matrix, block_rows: int = PREDICT_BLOCK_ROWS) -> np.ndarray:
        """Blended log-odds per row, ``block_rows`` rows at a time: the model's column cuts of ``X`` (the trees', the
        linear part's) are copies, so they are a block's, not the batch's; a row's value needs its row alone."""
        X = sp.csr_matrix(X)
        if X.shape[0] <= block_rows:
            return self._log_odds(X)
        blocks = range(0, X.shape[0], block_rows)
        return np.concatenate([self._log_odds(X[start : start + block_rows]) for start in blocks])

    def _log_odds(self, X: sp.csr_matrix) -> np.ndarray:
        raw = np.asarray(self.booster.predict(self.tree_inputs(X), raw_score=True), dtype=float)
        logit = self.blend.trees * raw
        for part, weight in self.linear_parts:
            logit = logit + weight * part.decision(X)
        return logit

    def predict(self, X: sp.csr_matrix) -> np.ndarray:
        """P(AE) before calibration."""
        return expit(self.log_odds(X))

    def to_text(self) -> str:
        document = {
            "format": MODEL_FORMAT,
            "lightgbm": self.booster.model_to_string(),
            "linear": self.linear.to_dict() if self.linear is not None else None,
            "blend": {key: value for key, value in asdict(self.blend).items() if key != "sentence" or value},
            "training": self.training,
        }
        if self.sentence is not None:  # absent otherwise, so that a model without one keeps its bytes
            document["sentence"] = self.sentence.to_dict()
        return canonical_json(document).decode()


@dataclass(frozen=True)
class TrainedModel:
    model_text: str
    best_iteration: int
    # AUROC on the inner fold of the trees (and joined linear part): what early stopping saw. The sentence part is
    # fitted once, on all train rows, so it is not in this figure (a second fit only for it cost a seventh of training).
    inner_validation_auc: float
    seconds: float


def inner_validation_mask(
    groups: np.ndarray, share: float, seed: int, labels: np.ndarray | None = None
) -> np.ndarray:
    """Whole split groups (documents linked by shared text, or batches) go to the inner validation fold.

    Without ``labels``: each group by its own hash (below ``share``). With them, stratified: the groups holding a
    positive and the groups holding none are ranked by the same hash separately, and the lowest ``share`` of each
    (rounded, at least one and never all when a stratum has two groups or more) go to the fold, so that both sides
    hold both classes whenever the groups allow it and a small train split keeps the class balance. A stratum's fold
    is the start of its hash ranking, so it differs from the unstratified fold only at the boundary.
    """
    groups = np.asarray(groups)
    keys = np.asarray([str(group) for group in groups], dtype=object)
    rank = {key: unit_interval("inner", str(seed), key) for key in dict.fromkeys(keys.tolist())}
    if labels is None:
        return np.array([rank[key] < share for key in keys], dtype=bool)
    positive = set(keys[np.asarray(labels, dtype=int) == 1].tolist())
    held: set[str] = set()
    for stratum in (sorted(positive), sorted(set(rank) - positive)):
        ordered = sorted(stratum, key=lambda key: (rank[key], key))
        size = len(ordered)
        count = math.floor(share * size + 0.5)
        if size >= 2:
            count = min(max(count, 1), size - 1)
        held.update(ordered[:count])
    return np.array([key in held for key in keys.tolist()], dtype=bool)


def _both_classes_on_both_sides(inner: np.ndarray, labels: np.ndarray) -> bool:
    return all(len(set(labels[side].tolist())) == 2 for side in (inner, ~inner))


def inner_fold(groups: np.ndarray, labels: np.ndarray, share: float, seed: int) -> np.ndarray:
    """The groups' own hash fold where it holds both classes on both sides (every model the quality benchmark
    measured was early-stopped on it), else the stratified fold: small data, where a hash can leave every positive on
    one side."""
    hashed = inner_validation_mask(groups, share, seed)
    if _both_classes_on_both_sides(hashed, labels):
        return hashed
    return inner_validation_mask(groups, share, seed, labels)


def model_columns(booster: lgb.Booster) -> np.ndarray:
    """The feature-matrix columns a model was trained on, which its text records as feature names ``c<index>``."""
    return np.array([int(name[1:]) for name in booster.feature_name()], dtype=np.int64)


def frequent_columns(X: sp.csr_matrix, min_count: int) -> np.ndarray:
    """Columns with at least ``min_count`` non-zeros: the others cannot support a split, and cost time."""
    counts = np.bincount(sp.csr_matrix(X).indices, minlength=X.shape[1])
    return np.flatnonzero(counts >= min_count)


def train_classifier(
    X: sp.csr_matrix,
    labels: np.ndarray,
    groups: np.ndarray,
    params: TrainingParams,
    log: Callable[[str], None] = lambda message: None,
    text_blocks: tuple[tuple[int, int], ...] = (),
    sentence_block: tuple[int, int] | None = None,
) -> TrainedModel:
    """Fit on the rows given (the train split only); ``text_blocks`` (``FeatureSpec.text_blocks()``) get the linear
    part, none: trees alone. ``sentence_block`` (``FeatureSpec.sentence_block()``) gets its own logistic regression,
    blended in; the trees never read it."""
    start = time.perf_counter()
    labels = np.asarray(labels, dtype=int)
    full = sp.csr_matrix(X)
    columns = frequent_columns(full, params.min_column_count)
    sentence_columns = np.arange(*sentence_block, dtype=np.int64) if sentence_block else np.zeros(0, np.int64)
    columns = np.setdiff1d(columns, sentence_columns)
    log(f"{len(columns):,} of {X.shape[1]:,} columns have >= {params.min_column_count} non-zeros in the train split")
    inner = inner_fold(np.asarray(groups), labels, params.inner_validation_share, params.seed)
    fit_rows, stop_rows = np.flatnonzero(~inner), np.flatnonzero(inner)
    if not _both_classes_on_both_sides(inner, labels):
        positive_groups = len(set(np.asarray(groups)[labels == 1].tolist()))
        raise ValueError(
            f"the inner fold of the train split needs both classes on both sides; it has {len(stop_rows)} of "
            f"{len(labels)} train records ({int(labels[stop_rows].sum())} positive), and {positive_groups} train "
            f"groups hold a positive: more train data (or more groups) is needed"
        )
    linear_columns = text_columns(columns, text_blocks)
    joins = params.tree_weight < 1  # else the linear fit only picks the trees' columns
    with_linear = params.linear_c > 0 and len(linear_columns) > 0 and (joins or params.tree_columns > 0)
    inner_linear = None
    if with_linear:  # fitted without the inner fold, so that the fold stays unseen by what chooses tree columns
        inner_linear = fit_linear(full[fit_rows], labels[fit_rows], linear_columns, text_blocks, params.linear_c)
        columns = tree_columns(columns, inner_linear, params.tree_columns)
        log(f"the trees get the {len(columns):,} columns the linear part weighs most (of {len(linear_columns):,})")
    X = full[:, columns]
    names = [f"c{column}" for column in columns]
    lgb_params = params.lightgbm_params()
    fitting = lgb.Dataset(X[fit_rows], labels[fit_rows], feature_name=names, free_raw_data=True)
    stopping = lgb.Dataset(X[stop_rows], labels[stop_rows], reference=fitting, free_raw_data=True)
    probe = lgb.train(
        lgb_params,
        fitting,
        num_boost_round=params.max_rounds,
        valid_sets=[stopping],
        valid_names=["inner_validation"],
        callbacks=[
            lgb.early_stopping(params.early_stopping_rounds, verbose=False),
            _progress(log, every=50, total=params.max_rounds, what="early-stopping pass"),
        ],
    )
    best_iteration = max(int(probe.best_iteration or params.max_rounds), 1)
    inner_score = np.asarray(probe.predict(X[stop_rows], num_iteration=best_iteration, raw_score=True), dtype=float)
    log(f"early stopping chose {best_iteration} rounds (inner-fold AUROC of the trees "
        f"{roc_auc_score(labels[stop_rows], inner_score):.4f})")  # fmt: skip
    if params.refit_trees:
        log("refitting the trees on all train rows")
        booster = lgb.train(
            lgb_params,
            lgb.Dataset(X, labels, feature_name=names, free_raw_data=True),
            num_boost_round=best_iteration,
            callbacks=[_progress(log, every=50, total=best_iteration, what="final fit")],
        )
    else:
        booster = lgb.Booster(model_str=probe.model_to_string(num_iteration=best_iteration))
    linear, blend = None, Blend()
    if inner_linear is not None and joins:
        blend = Blend(trees=params.tree_weight, linear=round(1 - params.tree_weight, 12))
        inner_score = blend.trees * inner_score + blend.linear * inner_linear.decision(full[stop_rows])
        linear = fit_linear(full, labels, linear_columns, text_blocks, params.linear_c)
        log(f"linear part on {len(linear_columns):,} text columns, refitted on all train rows; log-odds: trees x "
            f"{blend.trees:g} + linear x {blend.linear:g}")  # fmt: skip
    sentence = None
    if len(sentence_columns) and params.sentence_weight > 0:
        weight = params.sentence_weight
        blend = Blend(trees=blend.trees * (1 - weight), linear=blend.linear * (1 - weight), sentence=weight)
        sentence = fit_sentence_head(full, labels, sentence_columns, params.sentence_units, params.seed)
        log(f"sentence part: a network of {params.sentence_units} units on the {len(sentence_columns)} embedding "
            f"columns, refitted on all train rows, {weight:g} of the log-odds")  # fmt: skip
    inner_auc = float(roc_auc_score(labels[stop_rows], inner_score))
    log(f"inner-fold AUROC of the trees (the sentence part is fitted once, on all rows) {inner_auc:.4f}")
    return TrainedModel(
        model_text=Classifier(booster, linear, blend, params.to_dict(), sentence).to_text(),
        best_iteration=best_iteration,
        inner_validation_auc=inner_auc,
        seconds=time.perf_counter() - start,
    )


def tree_columns(columns: np.ndarray, linear: LinearPart, keep: int) -> np.ndarray:
    """Fewer but better columns for the trees: the ``keep`` text columns with the largest linear weights (ties by
    column), and every column outside the text. Rounds cost time per column; weak columns mostly add noise."""
    if keep <= 0 or keep >= len(linear.columns):
        return columns
    strongest = linear.columns[np.lexsort((linear.columns, -np.abs(linear.weights)))[:keep]]
    return np.union1d(np.setdiff1d(columns, linear.columns), strongest)


def _progress(log: Callable[[str], None], every: int, total: int, what: str) -> Callable:
    def callback(env: lgb.callback.CallbackEnv) -> None:
        iteration = env.iteration + 1
        if iteration % every == 0:
            scores = ", ".join(f"{name} {metric} {value:.4f}" for name, metric, value, _ in env.evaluation_result_list)
            log(f"{what}: round {iteration} of at most {total}" + (f" ({scores})" if scores else ""))

    return callback


def load_classifier(model_text: str) -> Classifier:
    """From the stored text: our JSON document, or LightGBM's own format alone (trees only)."""
    if not model_text.lstrip().startswith("{"):
        return Classifier(lgb.Booster(model_str=model_text))
    document = json.loads(model_text)
    if document.get("format") != MODEL_FORMAT:
        raise ValueError(f"unknown model format {document.get('format')!r}; this version reads {MODEL_FORMAT}")
    linear = LinearPart.from_dict(document["linear"]) if document.get("linear") else None
    sentence = SentenceHead.from_dict(document["sentence"]) if document.get("sentence") else None
    booster = lgb.Booster(model_str=document["lightgbm"])
    return Classifier(booster, linear, Blend(**document["blend"]), document.get("training"), sentence)


def predict_scores(classifier: Classifier, X: sp.csr_matrix) -> np.ndarray:
    """The model's P(AE), before calibration, from full-width feature rows."""
    return classifier.predict(X)
