"""Tests of the small helpers the notebooks call instead of inline glue: ``data.count_files`` and
``data.imbalance`` (notebook 1), ``features.correlated_pairs`` (notebook 2) and
``models.best_per_level`` (notebook 3). The figures of ``bag_of_songs.plot`` are tested in
test_plot.py and test_plot_cnn.py, the numbers behind them in test_analysis.py.

Known answers on tiny hand-made folders, tables and arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bag_of_songs.data import class_balance, count_files, imbalance
from bag_of_songs.features import correlated_pairs


def _split(root: Path, split: str, *, labels: list[str], n_wav: int,
           skipped: int | None = None) -> None:
    """A prepared split by hand: ``labels`` rows of annotations, ``n_wav`` (empty) WAV files."""
    audios = root / split / "audios"
    audios.mkdir(parents=True)
    for i in range(n_wav):
        (audios / f"audio_{split}_{i}.wav").touch()
    pd.DataFrame({"audio_file": [f"{split}/audios/audio_{split}_{i}.wav"
                                 for i in range(len(labels))],
                  "label": labels,
                  "source": [f"song{i}.mp3" for i in range(len(labels))]}
                 ).to_csv(root / split / "annotations.csv", index=False)
    if skipped is not None:
        pd.DataFrame({"source": [f"bad{i}.mp3" for i in range(skipped)],
                      "reason": ["not audio"] * skipped}
                     ).to_csv(root / split / "skipped.csv", index=False)


@pytest.fixture
def prepared(tmp_path) -> Path:
    """train: 4 clips (3 pop, 1 jazz), 1 input skipped; test: 2 annotated but only 1 WAV on
    disk, no skipped.csv; validation: an empty skipped.csv; notes/: not a split."""
    root = tmp_path / "data"
    _split(root, "test", labels=["pop", "jazz"], n_wav=1)
    _split(root, "train", labels=["pop", "pop", "jazz", "pop"], n_wav=4, skipped=1)
    _split(root, "validation", labels=["pop", "jazz"], n_wav=2, skipped=0)
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a split")
    return root


# ---------------------------------------------------------------------------------------------
# data.count_files


def test_count_files_counts_wavs_annotations_and_skipped_per_split(prepared):
    counts = count_files(prepared)
    expected = pd.DataFrame({"wav_files": [4, 2, 1], "annotated": [4, 2, 2],
                             "skipped": [1, 0, 0]},
                            index=pd.Index(["train", "validation", "test"], name="split"))
    pd.testing.assert_frame_equal(counts, expected, check_dtype=False)
    assert all(pd.api.types.is_integer_dtype(t) for t in counts.dtypes)


def test_count_files_of_a_folder_without_splits_is_empty(tmp_path):
    counts = count_files(tmp_path)
    assert counts.empty and list(counts.columns) == ["wav_files", "annotated", "skipped"]


# ---------------------------------------------------------------------------------------------
# data.imbalance


def _balance() -> pd.DataFrame:
    rows = [("train", "coarse", "a", 30), ("train", "coarse", "b", 10),
            ("train", "fine", "p", 20), ("train", "fine", "q", 15), ("train", "fine", "r", 5),
            ("test", "coarse", "a", 3), ("test", "coarse", "b", 3),
            ("test", "fine", "p", 2), ("test", "fine", "q", 4), ("test", "fine", "r", 0)]
    return pd.DataFrame(rows, columns=["split", "level", "class", "count"])


def test_imbalance_of_the_first_split_by_default():
    out = imbalance(_balance())
    assert list(out.index) == ["coarse", "fine"]  # the table's order, not sorted
    assert list(out.columns) == ["n_classes", "smallest", "largest", "ratio"]
    assert out.loc["coarse"].tolist() == [2, 10, 30, 3.0]
    assert out.loc["fine"].tolist() == [3, 5, 20, 4.0]


def test_imbalance_of_a_named_split_ignores_empty_classes():
    out = imbalance(_balance(), split="test")
    assert out.loc["coarse", "ratio"] == 1.0
    # class r has 0 clips in test: it does not count (ratio 4 / 2, not 4 / 0)
    assert out.loc["fine"].tolist() == [2, 2, 4, 2.0]


def test_imbalance_refuses_a_missing_split_or_an_empty_table():
    with pytest.raises(ValueError, match="'validation'"):
        imbalance(_balance(), split="validation")
    with pytest.raises(ValueError, match="empty"):
        imbalance(_balance().iloc[:0])


def test_imbalance_of_a_prepared_folder(prepared):
    out = imbalance(class_balance(prepared))
    assert out.loc["label"].tolist() == [2, 1, 3, 3.0]  # train: 3 pop, 1 jazz


# ---------------------------------------------------------------------------------------------
# features.correlated_pairs


def _feature_table() -> pd.DataFrame:
    # b = 2a (r = +1); c against a and b: r = -0.4; d is constant (r undefined);
    # label is numeric but a label, never a feature (r with a would be 0.89).
    return pd.DataFrame({
        "audio_file": ["w", "x", "y", "z"],
        "label": [0, 0, 1, 1],
        "a": [1.0, 2.0, 3.0, 4.0],
        "b": [2.0, 4.0, 6.0, 8.0],
        "c": [4.0, 1.0, 3.0, 2.0],
        "d": [1.0, 1.0, 1.0, 1.0],
    })


def test_correlated_pairs_known_answer():
    pairs = correlated_pairs(_feature_table(), top=None)
    assert list(pairs.columns) == ["feature_a", "feature_b", "r"]
    assert pairs[["feature_a", "feature_b"]].values.tolist() == [["a", "b"], ["a", "c"],
                                                                 ["b", "c"]]
    np.testing.assert_allclose(pairs["r"], [1.0, -0.4, -0.4], atol=1e-12)
    assert pairs.index.tolist() == [0, 1, 2]


def test_correlated_pairs_top():
    assert correlated_pairs(_feature_table(), top=1)[["feature_a", "feature_b"]].values.tolist() \
        == [["a", "b"]]
    assert len(correlated_pairs(_feature_table())) == 3  # top=5 but only 3 defined pairs


def test_correlated_pairs_agree_with_pandas(rng):
    table = pd.DataFrame(rng.normal(size=(40, 6)), columns=list("uvwxyz"))
    table["v"] += 0.8 * table["u"]
    table["z"] -= 1.5 * table["y"]
    pairs = correlated_pairs(table, top=None)
    assert len(pairs) == 15
    corr = table.corr()
    for p in pairs.itertuples():
        assert p.r == pytest.approx(corr.loc[p.feature_a, p.feature_b])
    assert np.all(np.diff(pairs["r"].abs()) <= 0)
    assert (pairs["feature_a"].iloc[0], pairs["feature_b"].iloc[0]) == ("y", "z")


# ---------------------------------------------------------------------------------------------
# models.best_per_level


def _results() -> pd.DataFrame:
    return pd.DataFrame({
        "level": ["sec", "sec", "sec", "fst", "fst", "fst"],
        "model": ["mlp", "svc", "rf", "mlp", "svc", "rf"],
        "n_classes": [9, 9, 9, 2, 2, 2],
        "accuracy": [0.70, 0.50, 0.60, 0.97, 0.95, 0.95],
        "f1_macro": [0.50, 0.40, 0.60, 0.90, 0.95, 0.95],
    })


def test_best_per_level_by_macro_f1():
    from bag_of_songs.models import best_per_level

    best = best_per_level(_results())
    assert best["level"].tolist() == ["sec", "fst"]  # the table's order
    assert best["model"].tolist() == ["rf", "svc"]  # fst: a tie, the model listed first wins
    assert best["f1_macro"].tolist() == [0.60, 0.95]
    assert list(best.columns) == list(_results().columns) and best.index.tolist() == [0, 1]


def test_best_per_level_by_another_metric():
    from bag_of_songs.models import best_per_level

    assert best_per_level(_results(), metric="accuracy")["model"].tolist() == ["mlp", "mlp"]


def test_best_per_level_refuses_what_is_not_a_comparison_table():
    from bag_of_songs.models import ModelError, best_per_level

    with pytest.raises(ModelError, match="f1"):
        best_per_level(_results().drop(columns="f1_macro"))
    with pytest.raises(ModelError, match="empty"):
        best_per_level(_results().iloc[:0])
    unscored = _results().assign(f1_macro=lambda r: r["f1_macro"].where(r["level"] == "sec"))
    with pytest.raises(ModelError, match="fst"):
        best_per_level(unscored)
