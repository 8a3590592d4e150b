"""Calibration (issue 19, item 5): reliability tables, expected calibration error, the
uncertainty threshold, and the reliability diagram, on synthetic sets with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bag_of_songs.errors import ModelError
from bag_of_songs.models.calibration import (
    RELIABILITY_COLUMNS,
    expected_calibration_error,
    flag_uncertain,
    reliability_table,
    selective_accuracy,
    uncertainty_threshold,
)


def _rows(top, n_classes=3):
    """Probability rows whose top class is column 0 with probability ``top``."""
    top = np.asarray(top, dtype=float)
    rest = np.repeat(((1 - top) / (n_classes - 1))[:, None], n_classes - 1, axis=1)
    return np.c_[top, rest]


def _labels(correct, rng=None, n_classes=3):
    """Class 0 where ``correct``, another class elsewhere."""
    correct = np.asarray(correct, dtype=bool)
    wrong = (rng.integers(1, n_classes, len(correct)) if rng is not None
             else np.ones(len(correct), dtype=int))
    return np.where(correct, 0, wrong)


# ---------------------------------------------------------------------------------------------
# Known answers


def test_a_perfectly_calibrated_set_has_ece_near_zero_and_lies_on_the_diagonal(rng):
    n = 200_000
    top = rng.uniform(0.4, 1.0, n)  # above 1/3, so column 0 is the top class
    correct = rng.random(n) < top  # right with exactly the stated probability
    proba, y = _rows(top), _labels(correct, rng)
    table = reliability_table(proba, y)
    assert list(table.columns) == list(RELIABILITY_COLUMNS)
    assert table["count"].sum() == n
    # bins (0.3, 0.4] to (0.9, 1.0]: the first holds no prediction above 0.4 and is dropped
    assert table["bin_lower"].round(6).tolist() == [0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    np.testing.assert_allclose(table["accuracy"], table["confidence"], atol=0.01)
    assert (table["gap"].abs() < 0.01).all()
    assert expected_calibration_error(proba, y) < 0.005


def test_an_overconfident_set_has_the_known_ece():
    # every prediction at 0.9, 6 of 10 right: over-confident by exactly 0.3
    proba = _rows(np.full(10, 0.9))
    y = _labels([True] * 6 + [False] * 4)
    assert expected_calibration_error(proba, y) == pytest.approx(0.3, abs=1e-12)
    table = reliability_table(proba, y)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["bin_lower"] == pytest.approx(0.8) and row["bin_upper"] == pytest.approx(0.9)
    assert (row["count"], row["confidence"], row["accuracy"]) == (10, pytest.approx(0.9), 0.6)
    assert row["gap"] == pytest.approx(0.3)
    # the same at any number of bins: one bin holds every prediction
    assert expected_calibration_error(proba, y, n_bins=3) == pytest.approx(0.3)


def test_two_bins_of_known_gaps_weigh_by_their_counts():
    # 4 at 0.95 (all right: gap -0.05), 6 at 0.55 (3 right: gap 0.05) -> ECE 0.05
    top = [0.95] * 4 + [0.55] * 6
    correct = [True] * 4 + [True] * 3 + [False] * 3
    table = reliability_table(_rows(top), _labels(correct))
    assert table["count"].tolist() == [6, 4]
    np.testing.assert_allclose(table["gap"], [0.05, -0.05])
    assert expected_calibration_error(_rows(top), _labels(correct)) == pytest.approx(0.05)


def test_bins_are_closed_on_the_right_and_counts_exact():
    top = [0.35, 0.4, 0.45, 0.5, 0.95, 1.0, 1.0]
    table = reliability_table(_rows(top), np.zeros(len(top), dtype=int), n_bins=10)
    # 0.4 falls in (0.3, 0.4], 0.5 in (0.4, 0.5], 1.0 in (0.9, 1.0]
    assert table["bin_lower"].round(6).tolist() == [0.3, 0.4, 0.9]
    assert table["bin_upper"].round(6).tolist() == [0.4, 0.5, 1.0]
    assert table["count"].tolist() == [2, 2, 3]
    np.testing.assert_allclose(table["confidence"], [0.375, 0.475, 0.9833333333])
    assert table["count"].dtype.kind == "i"


def test_empty_bins_are_dropped_so_no_value_is_nan():
    table = reliability_table(_rows([0.99, 0.41]), [0, 1], n_bins=50)
    assert len(table) == 2
    assert not table.isna().any().any()
    assert table["accuracy"].tolist() == [0.0, 1.0]


def test_quantile_bins_hold_equal_counts(rng):
    top = rng.uniform(0.5, 1.0, 100)
    table = reliability_table(_rows(top), np.zeros(100, dtype=int), n_bins=4,
                              strategy="quantile")
    assert table["count"].tolist() == [25, 25, 25, 25]
    assert table["bin_lower"].iloc[0] == top.min() and table["bin_upper"].iloc[-1] == top.max()
    # all confidences equal: the edges merge into one bin
    one = reliability_table(_rows(np.full(5, 0.7)), np.zeros(5, dtype=int), strategy="quantile")
    assert one["count"].tolist() == [5]


def test_the_top_class_is_the_first_on_ties():
    # a tie at 0.5 predicts column 0, as argmax (and the models) do
    table = reliability_table([[0.5, 0.5], [0.5, 0.5]], [0, 1])
    assert table["accuracy"].tolist() == [0.5]


# ---------------------------------------------------------------------------------------------
# The uncertainty threshold


TOP = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
RIGHT = np.array([True, True, True, False, True, False])  # out-of-fold accuracy 2/3


def test_the_threshold_rule_has_its_known_answer():
    proba, y = _rows(TOP), _labels(RIGHT)
    # default target 1 - (1/3)/2 = 5/6: kept accuracies 1, 1, 1, 3/4, 4/5, 2/3
    assert uncertainty_threshold(proba, y) == 0.8
    assert uncertainty_threshold(proba, y, target_accuracy=0.8) == 0.6
    assert uncertainty_threshold(proba, y, target_accuracy=0.5) == 0.5
    assert uncertainty_threshold(proba, y, target_accuracy=1.0) == 0.8
    # what it keeps on the same data
    scores = selective_accuracy(proba, y, 0.8)
    assert scores == {"threshold": 0.8, "coverage": 0.5, "accuracy": 1.0, "n": 6,
                      "n_uncertain": 3}
    assert flag_uncertain(proba, 0.8).tolist() == [False, False, False, True, True, True]


def test_the_threshold_does_not_depend_on_row_order(rng):
    order = rng.permutation(len(TOP))
    assert uncertainty_threshold(_rows(TOP[order]), _labels(RIGHT[order])) == 0.8


def test_tied_confidences_are_kept_or_flagged_together():
    # two at 0.9 (one wrong), two at 0.8 (both right): 0.9 keeps 1/2, 0.8 keeps 3/4
    proba, y = _rows([0.9, 0.8, 0.9, 0.8]), _labels([True, True, False, True])
    assert uncertainty_threshold(proba, y, target_accuracy=0.75) == 0.8
    # 0.75 is the best any candidate reaches: an unreachable target falls back to it
    assert uncertainty_threshold(proba, y, target_accuracy=0.9) == 0.8


def test_all_right_flags_nothing_on_the_training_data():
    proba, y = _rows([0.9, 0.6, 0.45]), np.zeros(3, dtype=int)
    threshold = uncertainty_threshold(proba, y)
    assert threshold == 0.45
    assert not flag_uncertain(proba, threshold).any()


def test_the_most_confident_wrong_falls_back_to_the_most_accurate_kept_set():
    # the most confident prediction is wrong: no kept set reaches 5/6; 0.6 keeps 2/3 right
    proba, y = _rows([0.9, 0.8, 0.6, 0.5]), _labels([False, True, True, False])
    assert uncertainty_threshold(proba, y) == 0.6


# ---------------------------------------------------------------------------------------------
# Bad input


GOOD = [[0.7, 0.3], [0.2, 0.8]]


@pytest.mark.parametrize(("proba", "y", "match"), [
    ([0.7, 0.3], [0, 1], "2-D"),
    (np.zeros((0, 2)), [], "2-D"),
    ([[0.7, np.nan], [0.2, 0.8]], [0, 1], "finite"),
    ([[np.inf, 0.3], [0.2, 0.8]], [0, 1], "finite"),
    ([[1.5, -0.5], [0.2, 0.8]], [0, 1], r"\[0, 1\]"),
    ([[0.7, 0.4], [0.2, 0.8]], [0, 1], "row 0 sums to 1.1"),
    ([["a", "b"], ["c", "d"]], [0, 1], "numbers"),
    (GOOD, [0], "expected 2 labels"),
    (GOOD, [[0, 1]], "expected 2 labels"),
    (GOOD, [0.0, 1.0], "class indices"),
    (GOOD, ["a", "b"], "class indices"),
    (GOOD, [0, 2], r"in \[0, 2\): found \[2\]"),
    (GOOD, [-1, 1], r"found \[-1\]"),
])
def test_bad_predictions_are_refused_with_a_clear_error(proba, y, match):
    for call in (reliability_table, expected_calibration_error, uncertainty_threshold):
        with pytest.raises(ModelError, match=match):
            call(proba, y)


def test_float32_rows_that_sum_to_one_within_rounding_are_accepted(rng):
    logits = rng.normal(size=(50, 4)).astype(np.float32)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert reliability_table(proba, rng.integers(0, 4, 50))["count"].sum() == 50


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_bins": 0}, "n_bins"),
    ({"n_bins": 2.5}, "n_bins"),
    ({"n_bins": True}, "n_bins"),
    ({"strategy": "log"}, "strategy"),
])
def test_bad_bins_are_refused(kwargs, match):
    with pytest.raises(ModelError, match=match):
        reliability_table(GOOD, [0, 1], **kwargs)


@pytest.mark.parametrize("target", [0, -0.1, 1.5, float("nan"), "high"])
def test_bad_target_accuracies_are_refused(target):
    with pytest.raises(ModelError, match="target_accuracy"):
        uncertainty_threshold(GOOD, [0, 1], target_accuracy=target)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan"), None])
def test_bad_thresholds_are_refused(threshold):
    with pytest.raises(ModelError, match="threshold"):
        flag_uncertain(GOOD, threshold)


def test_calibration_needs_no_torch():
    import ast
    from pathlib import Path

    import bag_of_songs.models.calibration as calibration

    tree = ast.parse(Path(calibration.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert imported <= {"__future__", "numpy", "pandas", "sklearn"}, imported


# ---------------------------------------------------------------------------------------------
# The reliability diagram


@pytest.fixture
def close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def test_plot_reliability_draws_bars_counts_diagonal_and_the_ece(close_figures):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    from matplotlib.figure import Figure

    from bag_of_songs.plot.models import plot_reliability

    top = [0.95] * 4 + [0.55] * 6
    proba, y = _rows(top), _labels([True] * 7 + [False] * 3)
    table = reliability_table(proba, y)
    given = Figure().subplots()
    ax = plot_reliability(table, ax=given, title="SVC")
    assert ax is given
    ece = expected_calibration_error(proba, y)
    assert ax.get_title() == f"SVC (ECE {ece:.3f})" == "SVC (ECE 0.050)"
    bars = ax.patches
    assert len(bars) == 2
    assert [round(b.get_x(), 6) for b in bars] == [0.5, 0.9]
    assert [round(b.get_height(), 6) for b in bars] == [0.5, 1.0]
    assert [t.get_text() for t in ax.texts] == ["n=6", "n=4"]
    diagonal, points = ax.lines
    assert diagonal.get_xydata().tolist() == [[0, 0], [1, 1]]
    np.testing.assert_allclose(points.get_xydata(), [[0.55, 0.5], [0.95, 1.0]])
    assert ax.get_legend() is not None


def test_plot_reliability_reads_json_records_and_refuses_what_is_no_table(close_figures):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    from matplotlib.figure import Figure

    from bag_of_songs.plot.models import plot_reliability

    table = reliability_table(_rows(np.full(10, 0.9)), _labels([True] * 6 + [False] * 4))
    records = table.to_dict(orient="records")
    ax = plot_reliability(records, ax=Figure().subplots())
    assert ax.get_title() == "Reliability (ECE 0.300)"
    with pytest.raises(ValueError, match="lacks column"):
        plot_reliability(pd.DataFrame({"count": [1]}), ax=Figure().subplots())
    with pytest.raises(ValueError, match="lacks column"):
        plot_reliability([{"accuracy": 0.6}], ax=Figure().subplots())
    with pytest.raises(ValueError, match="no prediction"):
        plot_reliability(table.iloc[:0], ax=Figure().subplots())


# --- wired into evaluate and the derived levels (issue 19, items 4 and 5) -------------------

def _flat_head_model(classes, parents, proba_rows):
    """A GenreClassifier whose probabilities are fixed rows (a stand-in for a strongly
    regularised head whose probabilities stay near 1 / n_classes)."""
    from sklearn.preprocessing import StandardScaler

    from bag_of_songs.models import GenreClassifier

    class Fixed:
        classes_ = np.arange(len(classes))

        def predict_proba(self, X):
            return np.asarray(proba_rows)[np.asarray(X)[:, 0].astype(int)]

    scaler = StandardScaler().fit(np.array([[0.0], [1.0]]))
    scaler.mean_, scaler.scale_ = np.zeros(1), np.ones(1)
    return GenreClassifier("logreg", Fixed(), list(classes), ["row"], "genre", scaler,
                           hierarchy={"coarse": parents})


def test_a_flat_head_derives_the_coarse_level_top_down():
    """Near-flat probabilities: the sum rule counts children, the top-down rule follows the
    best fine class, which is right on every clip here."""
    import pandas as pd

    from bag_of_songs.models import decide_levels, evaluate

    classes = ["classical", "electronic", "pop", "rock"]
    parents = {"classical": "Classic", "electronic": "Non_classic", "pop": "Non_classic",
               "rock": "Non_classic"}
    rows = [[0.28, 0.24, 0.24, 0.24], [0.27, 0.25, 0.24, 0.24], [0.22, 0.27, 0.26, 0.25],
            [0.24, 0.24, 0.28, 0.24]]
    model = _flat_head_model(classes, parents, rows)
    table = pd.DataFrame({"audio_file": ["a", "b", "c", "d"], "row": [0, 1, 2, 3],
                          "genre": ["classical", "classical", "electronic", "pop"],
                          "coarse": ["Classic", "Classic", "Non_classic", "Non_classic"]})
    top_down = evaluate(model, table, level="coarse")
    summed = evaluate(model, table, level="coarse", derived_rule="sum")
    assert top_down["accuracy"] == 1.0 and top_down["derived_rule"] == "fine"
    assert summed["accuracy"] == 0.5  # every clip "Non_classic": 3 children of 4
    for i, row in enumerate(rows):
        decided = decide_levels(np.array(row), classes, {"coarse": parents}, level="genre")
        assert decided["coarse"] == parents[classes[int(np.argmax(row))]]
        assert decided["coarse"] == table["coarse"][i]
    fine = evaluate(model, table)
    assert fine["accuracy"] == 1.0 and 0.0 <= fine["ece"] <= 1.0
    assert sum(r["count"] for r in fine["reliability"]) == 4


def test_training_chooses_a_threshold_that_predict_and_model_json_carry(tmp_path):
    """select_model records the threshold chosen on held-out predictions; it survives saving;
    predict_file marks a file whose best probability is below it; a garbled one is refused."""
    import json

    import pandas as pd

    from bag_of_songs.errors import ModelError
    from bag_of_songs.models import TabularDataset, load_model, save_model, select_model
    from bag_of_songs.models.predict import _uncertain

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = np.where(X[:, 0] + 0.7 * rng.normal(size=60) > 0, "a", "b")
    table = pd.DataFrame(X, columns=list("wxyz")).assign(
        label=y, audio_file=[f"c{i}.wav" for i in range(60)])
    ds = TabularDataset(table.iloc[:48])
    for selection, how in (("cv", "cross-validation"), ("split", "validation split")):
        model = select_model("logreg", ds, ds.derive(table.iloc[48:]), selection=selection)
        u = model.info["uncertainty"]
        assert u["chosen_on"] == how and 0.5 <= u["threshold"] <= 1.0
        assert u["n_uncertain"] == round((1 - u["coverage"]) * u["n"])
    t = model.info["uncertainty"]["threshold"]
    assert _uncertain(model, np.array([t - 1e-6, 1 - t + 1e-6])) is True
    assert _uncertain(model, np.array([t, 1 - t])) is False
    folder = save_model(model, tmp_path / "m")
    assert load_model(folder).info["uncertainty"] == model.info["uncertainty"]
    meta = json.loads((folder / "model.json").read_text())
    meta["info"]["uncertainty"]["threshold"] = 7.0
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="info.uncertainty.threshold"):
        load_model(folder)
    del model.info["uncertainty"]
    assert _uncertain(model, np.array([0.5, 0.5])) is None


@pytest.mark.slow
def test_the_command_line_reports_calibration_and_uncertain(tmp_path, capsys):
    import json

    from bag_of_songs.cli import main

    data, model = tmp_path / "demo", tmp_path / "model"
    assert main(["prepare", "demo", "--out", str(data), "--demo-size", "3", "--quiet"]) == 0
    assert main(["features", str(data), "--quiet", "--n-jobs", "1"]) == 0
    assert main(["train", str(data), "--model", "logreg", "--label-column", "fst_level_label",
                 "--out", str(model), "--selection", "cv", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model), str(data), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0.0 <= metrics["ece"] <= 1.0 and sum(r["count"] for r in metrics["reliability"]) == \
        metrics["n"]
    assert main(["evaluate", str(model), str(data)]) == 0
    assert "expected calibration error" in capsys.readouterr().out
    clip = next((data / "test").rglob("*.wav"))
    assert main(["predict", str(model), str(clip), "--json", "--all-levels"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert isinstance(rec["uncertain"], bool)
