"""bag_of_songs.analysis: the numbers behind the figures, known answers on tiny arrays.

Log axes chosen from the data, rows standardised over time, class medians, segment
projections, top tags, the late-fusion curve and the ranking of two models' disagreements; and
that the module stays light (no matplotlib, no model code) while ``bag_of_songs.plot`` still
serves its names to the notebooks.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import bag_of_songs.analysis as analysis
from bag_of_songs.analysis import (
    class_medians,
    feature_columns,
    fusion_curve,
    rank_disagreements,
    segment_projection,
    spans_decades,
    standardize_rows,
    top_tags,
)

# ---------------------------------------------------------------------------------------------
# Feature tables: columns, log axes, standardised rows, class medians, projections


def test_feature_columns_skip_identifiers_and_labels():
    t = pd.DataFrame({"audio_file": ["a", "b"], "source": ["x.mp3", "y.mp3"],
                      "source_stamp": [1, 2], "segment": [0, 1], "label": ["p", "q"],
                      "fst_level_label": ["P", "Q"], "genre": ["g", "h"], "mean_rms": [0.1, 0.2],
                      "std_zcr": [1, 2], "note": ["n", "m"]})
    assert feature_columns(t) == ["mean_rms", "std_zcr"]  # text columns are not features
    t.attrs["label_columns"] = ["std_zcr"]  # a numeric label column named by the table
    assert feature_columns(t) == ["mean_rms"]
    assert feature_columns(t, ["std_zcr", "mean_rms"]) == ["std_zcr", "mean_rms"]
    with pytest.raises(ValueError, match=r"not in the table: \['h'\]"):
        feature_columns(t, ["mean_rms", "h"])


def test_spans_decades_known_answers():
    assert spans_decades([3.0, 40.0, 1e7])  # 6.5 decades
    assert not spans_decades([1.0, 999.0])  # 2.99 decades
    assert spans_decades([1.0, 1001.0])  # just over 3
    assert spans_decades([1.0, 50.0], decades=1.5)
    assert not spans_decades([0.0, 1.0, 1e7])  # a zero cannot go on a log axis
    assert not spans_decades([-1.0, 1e7])
    assert not spans_decades([5.0])
    assert spans_decades([1.0, np.nan, 1e5, np.inf])  # non-finite values are ignored


def test_standardize_rows_known_answer():
    M = np.array([[1.0, 3.0], [10.0, 10.0]])
    Z, mean, std = standardize_rows(M)
    np.testing.assert_allclose(Z, [[-1.0, 1.0], [0.0, 0.0]])  # a constant row becomes 0
    np.testing.assert_allclose(mean, [2.0, 10.0])
    np.testing.assert_allclose(std, [1.0, 0.0])
    Z, _, _ = standardize_rows(M, mean=[0.0, 0.0], std=[2.0, 5.0])
    np.testing.assert_allclose(Z, [[0.5, 1.5], [2.0, 2.0]])
    with pytest.raises(ValueError, match="one value per row"):
        standardize_rows(M, mean=[0.0], std=[1.0])


def test_class_medians_known_answer():
    t = pd.DataFrame({"audio_file": list("abcdef"), "label": ["x", "x", "x", "y", "y", "y"],
                      "f": [1.0, 2.0, 9.0, 4.0, 5.0, 6.0], "g": [-1.0, -2.0, -3.0, 1, 2, 3]})
    out = class_medians(t, label_column="label")
    assert list(out.index) == ["f", "g"]
    assert out.loc["f", "x"] == 2.0 and out.loc["f", "y"] == 5.0  # medians, not means (4)
    assert out.loc["f", "highest"] == "y" and out.loc["f", "lowest"] == "x"
    assert out.loc["f", "ratio"] == 2.5
    assert out.loc["g", "highest"] == "y" and np.isnan(out.loc["g", "ratio"])  # x is negative
    with pytest.raises(ValueError, match="two classes"):
        class_medians(t.assign(label="x"), label_column="label")
    with pytest.raises(ValueError, match="not in the table"):
        class_medians(t, label_column="label", features=["h"])


def test_segment_projection_pca_known_answer():
    # all variance along one direction of two perfectly correlated features: PC1 has it all
    t = pd.DataFrame({"audio_file": ["a"] * 3 + ["b"] * 3, "segment": [0, 1, 2] * 2,
                      "label": ["x"] * 3 + ["y"] * 3,
                      "f": [0.0, 1, 2, 3, 4, 5], "g": [0.0, 2, 4, 6, 8, 10]})
    points, labels = segment_projection(t, label_column="label")
    assert labels[0].startswith("PC1 (100 %")
    np.testing.assert_allclose(points["y"], 0.0, atol=1e-9)
    # the segment column is an identifier: PC1 is the standardised f (up to its sign)
    z = (t["f"] - t["f"].mean()) / t["f"].std(ddof=0) * np.sqrt(2)
    np.testing.assert_allclose(np.abs(points["x"]), np.abs(z), atol=1e-9)
    assert points["audio_file"].tolist() == t["audio_file"].tolist()
    points, labels = segment_projection(t, label_column="label", features=["g", "f"])
    assert labels == ["g", "f"] and points["x"].tolist() == t["g"].tolist()
    with pytest.raises(ValueError, match="two features"):
        segment_projection(t, label_column="label", features=["f"])


def test_segment_projection_logs_a_feature_that_spans_decades():
    # f spans 6 decades and g = 2 log10(f): once f is taken as its log, the two are perfectly
    # correlated and PC1 holds all the variance (linearly, 1e6 would be a component alone)
    f = np.array([1.0, 10.0, 100.0, 1e3, 1e6])
    t = pd.DataFrame({"audio_file": list("abcde"), "label": list("xxyyy"), "f": f,
                      "g": 2 * np.log10(f)})
    points, labels = segment_projection(t, label_column="label")
    assert labels[0].startswith("PC1 (100 %")
    np.testing.assert_allclose(points["y"], 0.0, atol=1e-9)

# ---------------------------------------------------------------------------------------------
# Embeddings: top tags


def test_top_tags_known_answer():
    tags = ["rock", "pop", "classical", "jazz"]
    T = np.array([[0.9, 0.1, 0.2, 0.5], [0.7, 0.3, 0.2, 0.5]])
    top = top_tags(T, tags, n=3)
    assert top["tag"].tolist() == ["rock", "jazz", "pop"]
    np.testing.assert_allclose(top["probability"], [0.8, 0.5, 0.2])
    tied = top_tags(np.ones((2, 4)), tags, n=4)
    assert tied["tag"].tolist() == tags  # ties keep the tags' order
    with pytest.raises(ValueError, match="does not match"):
        top_tags(T, tags[:3])


# ---------------------------------------------------------------------------------------------
# fusion_curve (notebook 4)


def test_fusion_curve_known_answer():
    p_a = np.array([[0.9, 0.1], [0.2, 0.8]])  # right on both
    p_b = np.array([[0.4, 0.6], [0.7, 0.3]])  # wrong on both
    y = np.array([0, 1])
    curve = fusion_curve(p_a, p_b, y, grid=3)
    assert curve["weight"].tolist() == [0.0, 0.5, 1.0]
    assert curve["accuracy"].tolist() == [0.0, 1.0, 1.0]  # w = 0.5: [0.65, 0.35], [0.45, 0.55]
    assert curve["f1_macro"].tolist() == [0.0, 1.0, 1.0]
    expected = [-np.mean(np.log([0.4, 0.3])), -np.mean(np.log([0.65, 0.55])),
                -np.mean(np.log([0.9, 0.8]))]
    np.testing.assert_allclose(curve["log_loss"], expected)


def test_fusion_curve_minimum_is_the_weight_choose_fusion_weight_picks(rng):
    from bag_of_songs.cnn import choose_fusion_weight

    y = rng.integers(0, 3, 30)
    p_a = rng.dirichlet(np.ones(3), 30)
    p_b = rng.dirichlet(np.ones(3), 30)
    curve = fusion_curve(p_a, p_b, y)
    w = choose_fusion_weight(p_a, p_b, y)
    assert curve.loc[curve["log_loss"].idxmin(), "weight"] == pytest.approx(w)


def test_fusion_curve_refuses_bad_shapes():
    p = np.full((2, 2), 0.5)
    with pytest.raises(ValueError, match="n_clips"):
        fusion_curve(p, np.full((3, 2), 0.5), [0, 1])
    with pytest.raises(ValueError, match="labels"):
        fusion_curve(p, p, [0, 2])
    with pytest.raises(ValueError, match="grid"):
        fusion_curve(p, p, [0, 1], grid=1)

# ---------------------------------------------------------------------------------------------
# rank_disagreements (notebook 4)


def test_rank_disagreements_known_answer():
    classes = ["a", "b", "c"]
    p_cnn = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6]])
    p_svc = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.4, 0.5, 0.1], [0.1, 0.2, 0.7]])
    table = rank_disagreements(["x", "y", "z", "w"], p_cnn, p_svc, classes, [0, 1, 1, 2],
                               names=("CNN", "SVC"))
    # y and z disagree (y further apart: 0.5 against 0.1); then w (0.1), then x (0)
    assert table["audio_file"].tolist() == ["y", "z", "w", "x"]
    assert table["disagree"].tolist() == [True, True, False, False]
    np.testing.assert_allclose(table["distance"], [0.5, 0.1, 0.1, 0.0], atol=1e-12)
    first = table.iloc[0]
    assert (first["true"], first["cnn"], first["svc"]) == ("b", "b", "a")
    assert first["cnn_p"] == pytest.approx(0.8) and first["svc_p"] == pytest.approx(0.6)
    assert bool(first["cnn_right"]) and not bool(first["svc_right"])


def test_rank_disagreements_without_truth_and_bad_input():
    p = np.array([[0.3, 0.7]])
    table = rank_disagreements(["x"], p, p, ["a", "b"], names=("CNN", "MLP"))
    assert "true" not in table and "cnn_right" not in table
    assert table[["cnn", "mlp"]].iloc[0].tolist() == ["b", "b"]
    with pytest.raises(ValueError, match="shape"):
        rank_disagreements(["x", "y"], p, p, ["a", "b"])
    with pytest.raises(ValueError, match="different names"):
        rank_disagreements(["x"], p, p, ["a", "b"], names=("CNN", "cnn"))


def test_rank_disagreements_table_is_a_dataframe_in_clip_order_when_all_agree():
    p = np.array([[0.6, 0.4], [0.6, 0.4]])
    table = rank_disagreements(["x", "y"], p, p, ["a", "b"])
    assert isinstance(table, pd.DataFrame)
    assert table["audio_file"].tolist() == ["x", "y"] and not table["disagree"].any()


# ---------------------------------------------------------------------------------------------
# The module's place in the package


def test_analysis_imports_neither_matplotlib_nor_model_code():
    code = ("import sys, bag_of_songs.analysis; "
            "heavy = [m for m in ('matplotlib', 'seaborn', 'torch', 'bag_of_songs.models', "
            "'bag_of_songs.cnn', 'bag_of_songs.plot') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_serves_the_same_functions_to_the_notebooks():
    import bag_of_songs.plot as plot

    for name in ("spans_decades", "standardize_rows", "class_medians", "segment_projection",
                 "top_tags", "fusion_curve", "rank_disagreements"):
        assert getattr(plot, name) is getattr(analysis, name), name
        assert name in plot.__all__ and name in analysis.__all__
