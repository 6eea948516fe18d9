"""Deterministic, grouped train / calibration / test splits.

A split is decided by hashing a group key with a recorded seed, so it is the same on any machine and a report keeps
its side when more data arrives. Groups join documents that share a text (compared case- and space-folded), so
neither a document nor a text can end up on two sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gxp_assets.core.features import FeatureMatrix
from gxp_assets.core.hashing import unit_interval

SPLITS: tuple[str, ...] = ("train", "calibration", "test")


@dataclass(frozen=True)
class SplitPlan:
    seed: int = 20261126
    train: float = 0.6
    calibration: float = 0.2
    test: float = 0.2

    def __post_init__(self) -> None:
        shares = (self.train, self.calibration, self.test)
        if min(shares) <= 0 or abs(sum(shares) - 1.0) > 1e-9:
            raise ValueError(f"split proportions must be positive and sum to 1, got {shares}")


def folded_text(text: str) -> str:
    """Casefolded, with each run of whitespace one space and none at the ends: ``str.split`` splits where ``\\s+``
    matches (both use str.isspace; checked over every code point), three times faster than the regex."""
    return " ".join(text.casefold().split())


def split_groups(document_ids: pd.Series, texts: pd.Series) -> pd.Series:
    """A group key per row: the smallest document id among documents linked through a shared (folded) text."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        root = node
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    def union(a: str, b: str) -> None:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            low, high = sorted((root_a, root_b))
            parent[high] = low

    for document, text in zip(document_ids, texts, strict=True):
        union(f"doc:{document}", f"text:{folded_text(text)}")
    groups = {}
    for document in document_ids:
        groups.setdefault(document, find(f"doc:{document}"))
    # The root is the smallest node name of its component; report it as a document id when it is one.
    return pd.Series([groups[document] for document in document_ids], index=document_ids.index, dtype=object)


def assign_splits(reports: pd.DataFrame, plan: SplitPlan) -> pd.DataFrame:
    """One row per report: its group and split; rows in the order given (the order of the feature matrix)."""
    groups = split_groups(reports["document_id"], reports["text"])
    cut_train, cut_calibration = plan.train, plan.train + plan.calibration

    def side(group: str) -> str:
        u = unit_interval(str(plan.seed), group)
        return "train" if u < cut_train else "calibration" if u < cut_calibration else "test"

    sides = {group: side(group) for group in groups.unique()}
    return pd.DataFrame(
        {
            "row": range(len(reports)),
            "report_id": reports["report_id"].astype(object).to_numpy(),
            "document_id": reports["document_id"].astype(object).to_numpy(),
            "split_group": groups.to_numpy(),
            "split": [sides[group] for group in groups],
            "label": reports["label"].to_numpy(),
            "source": reports["source"].astype(object).to_numpy(),
        }
    )


def split_rows(
    features: FeatureMatrix, splits: pd.DataFrame, name: str
) -> tuple[sp.csr_matrix, np.ndarray, pd.DataFrame]:
    """Feature rows, labels and split rows of one split only: the way every stage takes its share of the data."""
    part = splits[splits["split"] == name]
    return features.matrix[part["row"].to_numpy()], part["label"].astype(int).to_numpy(), part


def leaks(splits: pd.DataFrame, key: pd.Series) -> pd.DataFrame:
    """Values of ``key`` (aligned with ``splits``) that occur on more than one side, with the sides."""
    pairs = pd.DataFrame({"key": key.to_numpy(), "split": splits["split"].to_numpy()}).drop_duplicates()
    leaked = pairs[pairs.duplicated("key", keep=False)]  # vectorised: a Python call per key cost ~1 s on ADE
    return leaked.groupby("key")["split"].agg(sorted).rename("splits").reset_index()


def whole_document_batches(reports: pd.DataFrame, size: int, count: int, seed: int) -> list[np.ndarray]:
    """Up to ``count`` batches of ``size`` row positions, each a run of whole documents in random order, none shared:
    records of one document arrive together, as they do from a channel (benchmarks draw batches this way)."""
    # A numpy array: numpy shuffles pandas' Arrow-backed arrays only through a generic path it warns may duplicate.
    documents = np.asarray(reports["document_id"].unique(), dtype=object)
    np.random.default_rng(seed).shuffle(documents)
    rows_of = reports.groupby("document_id", sort=False).indices
    found: list[np.ndarray] = []
    current: list[int] = []
    for document in documents:
        current.extend(rows_of[document])
        if len(current) >= size:
            found.append(np.array(current[:size]))
            current = []
            if len(found) == count:
                break
    return found


def assign_record_splits(
    records: pd.DataFrame,
    id_column: str,
    group_column: str,
    plan: SplitPlan,
    label_column: str = "label",
    subgroup_column: str | None = None,
) -> pd.DataFrame:
    """Train / calibration / test for a declared record contract: whole groups, and the positives dealt out.

    With few groups (a tabular use case's product codes) or few positives, hashing each group alone leaves a part
    with almost no positives by chance. Here groups are dealt in a fixed order, each to the part furthest below its
    share: first the groups holding positives (most positives first), by positives, then the others (largest
    first), by records; ties go by the seeded hash of the group, so the split is the same on any machine. Unlike
    :func:`assign_splits`, a group's side depends on the other groups: a retraining on more data deals again.
    """
    groups = records[group_column].astype(str).to_numpy()
    labels = records[label_column].astype(int).to_numpy()
    table = pd.DataFrame({"group": groups, "label": labels}).groupby("group", sort=True)["label"].agg(["size", "sum"])
    table["u"] = [unit_interval(str(plan.seed), group) for group in table.index]
    shares = (plan.train, plan.calibration, plan.test)
    wanted_positives = [share * float(table["sum"].sum()) for share in shares]
    wanted_records = [share * float(table["size"].sum()) for share in shares]
    positives, sizes = [0.0] * len(SPLITS), [0.0] * len(SPLITS)
    sides: dict[str, str] = {}
    for holds_positives in (True, False):
        order = table[(table["sum"] > 0) == holds_positives]
        order = order.sort_values(["sum", "size", "u"], ascending=[False, False, True])
        for group, size, count in zip(order.index, order["size"], order["sum"], strict=True):
            # Furthest below its share of positives (groups with positives), then of records.
            part = max(range(len(SPLITS)), key=lambda part: (
                round(wanted_positives[part] - positives[part], 9) if holds_positives else 0.0,
                round(wanted_records[part] - sizes[part], 9), -part))  # fmt: skip
            sides[group] = SPLITS[part]
            positives[part] += count
            sizes[part] += size
    subgroups = records[subgroup_column].astype(object).to_numpy() if subgroup_column else [None] * len(records)
    # The split table of assign_splits, so that training and calibration take it as they are: its report_id is
    # the record's id, document_id and split_group its group, source its subgroup (None without one).
    return pd.DataFrame(
        {
            "row": range(len(records)),
            "report_id": records[id_column].astype(object).to_numpy(),
            "document_id": groups.astype(object),
            "split_group": groups.astype(object),
            "split": [sides[group] for group in groups],
            "label": labels,
            "source": subgroups,
        }
    )


def split_shortfalls(splits: pd.DataFrame, min_positive: dict[str, int], min_groups: int = 1) -> list[str]:
    """Why the split cannot support the plan (empty: it can): a part with fewer positives than ``min_positive``
    asks of it, or fewer than ``min_groups`` groups; each with the numbers, and the whole data's, so that a person
    sees whether more data or another split group is the answer."""
    problems = []
    for name in SPLITS:
        part = splits[splits["split"] == name]
        positives, groups = int(part["label"].sum()), part["split_group"].nunique()
        positive_groups = part.loc[part["label"] == 1, "split_group"].nunique()
        needs = ((positives, min_positive.get(name, 0), "positives"), (groups, min_groups, "groups"))
        short = [f"{need:,} {what}" for have, need, what in needs if have < need]
        if short:
            problems.append(
                f"the {name} part holds {positives:,} positives in {positive_groups:,} of its {groups:,} groups "
                f"({len(part):,} records); the plan needs at least {' and '.join(short)}"
            )
    if problems:
        groups, records = splits["split_group"].nunique(), len(splits)
        advice = "add data, or split by a finer group" if groups < records else "add data, or state a plan it can"
        problems.append(
            f"all parts: {int(splits['label'].sum()):,} positives in "
            f"{splits.loc[splits['label'] == 1, 'split_group'].nunique():,} of {groups:,} groups ({records:,} "
            f"records): the data cannot support the plan as split; {advice}"
        )
    return problems
