"""The demo generator is the data every fresh checkout trains on: it must be stable, well-formed and learnable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from gxp_assets.core.demo_data import DEMO_CHANNELS, generate_demo_reports, write_demo_reports

COLUMNS = ["report_id", "document_id", "source", "text", "received_at", "label", "product"]


@pytest.fixture(scope="module")
def reports() -> pd.DataFrame:
    return generate_demo_reports()


@pytest.fixture(scope="module")
def clean_reports() -> pd.DataFrame:
    return generate_demo_reports(label_noise=0.0)


def test_same_arguments_give_the_same_frame(reports: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate_demo_reports(), reports)


def test_another_seed_gives_other_data(reports: pd.DataFrame) -> None:
    other = generate_demo_reports(seed=8)
    assert not other.equals(reports)
    assert set(other["text"]) != set(reports["text"])


def test_written_files_are_byte_identical_and_round_trip(tmp_path: Path, reports: pd.DataFrame) -> None:
    first = write_demo_reports(tmp_path / "a" / "nested" / "demo.csv")
    second = write_demo_reports(tmp_path / "b" / "demo.csv")
    assert first == tmp_path / "a" / "nested" / "demo.csv"
    assert first.read_bytes() == second.read_bytes()
    assert b"\r" not in first.read_bytes()
    assert first.read_bytes().startswith(b"report_id,document_id,source,text,received_at,label,product\n")
    assert sorted(p.name for p in first.parent.iterdir()) == ["demo.csv"]  # no temporary file left behind
    back = pd.read_csv(first, dtype=str, keep_default_na=False, encoding="utf-8").astype(object)
    pd.testing.assert_frame_equal(back, reports)


def test_writing_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "demo.csv"
    target.write_text("stale\n", encoding="utf-8")
    write_demo_reports(target, n_documents=5, seed=3)
    assert target.read_text(encoding="utf-8").startswith("report_id,")
    assert len(pd.read_csv(target, dtype=str, keep_default_na=False)) == len(
        generate_demo_reports(n_documents=5, seed=3)
    )


def test_columns_and_types(reports: pd.DataFrame) -> None:
    assert list(reports.columns) == COLUMNS
    assert all(reports[name].dtype == object for name in COLUMNS)
    for name in COLUMNS:
        assert all(type(value) is str for value in reports[name]), name
    assert all(text.strip() for text in reports["text"])
    assert all(text.isascii() for text in reports["text"])
    assert set(reports["label"]) == {"0", "1"}


def test_ids_are_unique_and_consistent(reports: pd.DataFrame) -> None:
    assert reports["report_id"].is_unique
    assert reports["report_id"].str.fullmatch(r"demo-\d{6}-\d+").all()
    prefixes = {"social_media": "SM-", "call_centre": "CC-", "literature": "PMID-"}
    for source, prefix in prefixes.items():
        assert reports.loc[reports["source"] == source, "document_id"].str.startswith(prefix).all()
    assert (reports.groupby("document_id")["source"].nunique() == 1).all()


def test_channels_mix_and_documents_with_several_records(reports: pd.DataFrame) -> None:
    assert set(reports["source"]) == set(DEMO_CHANNELS)
    documents = reports.drop_duplicates("document_id")["source"].value_counts(normalize=True)
    assert documents["social_media"] == pytest.approx(0.4, abs=0.08)
    assert documents["call_centre"] == pytest.approx(0.3, abs=0.08)
    assert documents["literature"] == pytest.approx(0.3, abs=0.08)
    sizes = reports.groupby(["source", "document_id"]).size()
    limits = {"social_media": (1, 4), "call_centre": (1, 5), "literature": (2, 8)}
    for source, (low, high) in limits.items():
        per_document = sizes[source]
        assert per_document.min() >= low and per_document.max() <= high, source
        assert (per_document > 1).sum() >= 10, source


def test_positive_share(reports: pd.DataFrame) -> None:
    share = (reports["label"] == "1").mean()
    assert 0.15 <= share <= 0.40
    for source in DEMO_CHANNELS:
        assert 0.10 <= (reports.loc[reports["source"] == source, "label"] == "1").mean() <= 0.50, source


def test_label_noise_flips_about_the_requested_share(clean_reports: pd.DataFrame) -> None:
    noisy = generate_demo_reports(label_noise=0.1)
    differs = (noisy["label"] != clean_reports["label"]).mean()
    assert 0.05 <= differs <= 0.15
    # only labels change: the noise level must not reshuffle the texts
    pd.testing.assert_frame_equal(noisy.drop(columns="label"), clean_reports.drop(columns="label"))


def test_received_at_is_utc_within_the_window_and_ordered(reports: pd.DataFrame) -> None:
    assert reports["received_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z").all()
    stamps = pd.to_datetime(reports["received_at"], utc=True, format="ISO8601")
    assert str(stamps.dt.tz) == "UTC"
    assert stamps.min() >= datetime(2026, 1, 1, tzinfo=UTC)
    assert stamps.max() < datetime(2026, 7, 1, tzinfo=UTC)
    assert stamps.dt.month.nunique() == 6  # spread over the whole window
    frame = reports.assign(stamp=stamps)
    for _, document in frame.groupby("document_id"):
        assert document["stamp"].is_monotonic_increasing
        assert document["stamp"].max() - document["stamp"].min() <= pd.Timedelta(days=7)


def test_negatives_include_negation_and_hedging(clean_reports: pd.DataFrame) -> None:
    negatives = clean_reports.loc[clean_reports["label"] == "0", "text"].str.lower()
    assert negatives.str.contains(r"\bno |denies|denied|without").sum() >= 20
    assert negatives.str.contains(r"probably from|attributes to|attributed to|not the").sum() >= 10
    # the same symptom words appear on both sides, so a keyword alone cannot decide the label
    positives = clean_reports.loc[clean_reports["label"] == "1", "text"].str.lower()
    assert positives.str.contains("nausea").any() and negatives.str.contains("nausea").any()


def test_products_are_named_in_their_texts(clean_reports: pd.DataFrame) -> None:
    named = clean_reports[clean_reports["product"] != ""]
    assert named["product"].nunique() >= 25
    found = [product in text.lower() for product, text in zip(named["product"], named["text"], strict=True)]
    assert sum(found) / len(found) > 0.9  # the rest carry a typo in the drug name
    assert (clean_reports.loc[clean_reports["label"] == "1", "product"] != "").all()
    assert (clean_reports["product"] == "").any()


def test_texts_are_practically_unique(reports: pd.DataFrame) -> None:
    assert reports["text"].duplicated().sum() <= 5


def test_argument_checks() -> None:
    with pytest.raises(ValueError):
        generate_demo_reports(label_noise=1.5)
    with pytest.raises(ValueError):
        generate_demo_reports(n_documents=-1)
    with pytest.raises(TypeError):
        generate_demo_reports(seed=1.5)  # type: ignore[arg-type]
    empty = generate_demo_reports(n_documents=0)
    assert list(empty.columns) == COLUMNS and empty.empty
