"""Tests of the small helpers the notebooks call instead of inline glue: ``data.count_files`` and
``data.imbalance`` (notebook 1), ``features.correlated_pairs`` (notebook 2),
``models.best_per_level`` (notebook 3), and the figures and helpers of ``bag_of_songs.plot``
(log axes chosen from the data, MFCC ticks on row centres, confusion matrices sized by their
classes, segment projections, taggrams...).

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


# ---------------------------------------------------------------------------------------------
# bag_of_songs.plot: helpers and figures (known answers, drawn off-screen)

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")


@pytest.fixture
def close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def test_spans_decades_known_answers():
    from bag_of_songs.plot import spans_decades

    assert spans_decades([3.0, 40.0, 1e7])  # 6.5 decades
    assert not spans_decades([1.0, 999.0])  # 2.99 decades
    assert spans_decades([1.0, 1001.0])  # just over 3
    assert spans_decades([1.0, 50.0], decades=1.5)
    assert not spans_decades([0.0, 1.0, 1e7])  # a zero cannot go on a log axis
    assert not spans_decades([-1.0, 1e7])
    assert not spans_decades([5.0])
    assert spans_decades([1.0, np.nan, 1e5, np.inf])  # non-finite values are ignored


def _table(rng, n=40):
    ber = np.r_[rng.uniform(3, 30, n - 1), 1e7]  # one clip with almost no highs
    return pd.DataFrame({
        "audio_file": [f"c{i // 5}.wav" for i in range(n)],
        "segment": [i % 5 for i in range(n)],
        "label": ["A"] * (n // 2) + ["B"] * (n - n // 2),
        "mean_ber": ber,
        "mean_rms": np.r_[np.full(n // 2, 0.1), np.full(n - n // 2, 0.3)] + 0.01 * rng.normal(size=n),
        "mean_mfcc1": rng.normal(-200, 10, size=n),
    })


def test_boxplots_use_a_log_axis_only_where_a_feature_spans_decades(rng, close_figures):
    from bag_of_songs.plot import plot_feature_boxplots

    fig, axes = plot_feature_boxplots(_table(rng), label_column="label", ncols=3)
    scales = {ax.get_title(): ax.get_yscale() for ax in axes.flat if ax.get_visible()}
    # segment and audio_file are identifiers, never panels
    assert scales == {"mean_ber (log)": "log", "mean_rms": "linear", "mean_mfcc1": "linear"}
    # the outlier no longer flattens the other clips: the axis covers their range in decades
    ber_ax = axes.flat[0]
    lo, hi = ber_ax.get_ylim()
    assert lo < 5 and hi > 1e7
    fig, axes = plot_feature_boxplots(_table(rng), label_column="label", log=False, ncols=3)
    assert {ax.get_yscale() for ax in axes.flat if ax.get_visible()} == {"linear"}


def test_class_medians_known_answer():
    from bag_of_songs.plot import class_medians

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


def test_standardize_rows_known_answer():
    from bag_of_songs.plot import standardize_rows

    M = np.array([[1.0, 3.0], [10.0, 10.0]])
    Z, mean, std = standardize_rows(M)
    np.testing.assert_allclose(Z, [[-1.0, 1.0], [0.0, 0.0]])  # a constant row becomes 0
    np.testing.assert_allclose(mean, [2.0, 10.0])
    np.testing.assert_allclose(std, [1.0, 0.0])
    Z, _, _ = standardize_rows(M, mean=[0.0, 0.0], std=[2.0, 5.0])
    np.testing.assert_allclose(Z, [[0.5, 1.5], [2.0, 2.0]])
    with pytest.raises(ValueError, match="one value per row"):
        standardize_rows(M, mean=[0.0], std=[1.0])


def test_mfcc_ticks_sit_on_row_centres_labelled_1_to_n(rng, close_figures):
    from bag_of_songs.plot import plot_mfcc

    M = rng.normal(size=(13, 50))
    M[0] -= 200  # coefficient 1 far larger than the others
    ax = plot_mfcc(M)
    ticks = ax.get_yticks()
    np.testing.assert_array_equal(ticks, np.arange(1, 14))
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(i) for i in range(1, 14)]
    edges = np.unique(ax.collections[0].get_coordinates()[:, 0, 1])
    np.testing.assert_allclose((edges[:-1] + edges[1:]) / 2, ticks)  # centres, not edges
    # every coefficient uses the colour scale: standardised, -3..3, and the bar says so
    mesh = ax.collections[0]
    assert mesh.get_clim() == (-3.0, 3.0)
    assert np.abs(mesh.get_array()).max() < 10  # coefficient 1 no longer at -200
    assert "Standardised per coefficient" in ax.figure.axes[-1].get_ylabel()
    ax = plot_mfcc(M, scale="raw")
    assert ax.collections[0].get_clim()[1] == pytest.approx(np.abs(M[1:]).max())


def test_plot_mfccs_standardises_with_the_pooled_statistics(rng, close_figures):
    from bag_of_songs.plot import plot_mfccs

    a = rng.normal(size=(13, 40))
    fig, axes = plot_mfccs({"a": a, "b": a + 1.0})
    za, zb = (np.asarray(ax.collections[0].get_array()) for ax in axes)
    # the same coefficient offset by 1 in every frame: b is warmer than a, by the same amount
    assert np.all(zb.mean() > za.mean())
    assert "2 clips" in fig.axes[-1].get_ylabel()


def test_confusion_matrix_figure_grows_with_the_classes_and_stays_readable(tmp_path,
                                                                           close_figures):
    from PIL import Image

    from bag_of_songs.plot import confusion_matrix_size, plot_confusion_matrix, save_figure

    sizes = [confusion_matrix_size([f"class{i}" for i in range(n)]) for n in (2, 9, 16)]
    assert sizes[0][0] < sizes[1][0] < sizes[2][0] and sizes[0][1] < sizes[2][1]
    widths = []
    for n in (2, 16):
        classes = ["Classic", "Non_classic"] if n == 2 else [f"Genre_{i}" for i in range(n)]
        ax = plot_confusion_matrix(np.eye(n, dtype=int) * 3, classes, title="MLP, test")
        with Image.open(save_figure(ax, tmp_path / f"cm{n}.png")) as im:
            widths.append(im.size[0])
    assert widths[0] >= 450, widths  # the study's 2 x 2 matrix was 324 px wide
    assert widths[1] > 1.5 * widths[0]


def test_segment_projection_pca_known_answer():
    from bag_of_songs.plot import segment_projection

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
    from bag_of_songs.plot import segment_projection

    # f spans 6 decades and g = 2 log10(f): once f is taken as its log, the two are perfectly
    # correlated and PC1 holds all the variance (linearly, 1e6 would be a component alone)
    f = np.array([1.0, 10.0, 100.0, 1e3, 1e6])
    t = pd.DataFrame({"audio_file": list("abcde"), "label": list("xxyyy"), "f": f,
                      "g": 2 * np.log10(f)})
    points, labels = segment_projection(t, label_column="label")
    assert labels[0].startswith("PC1 (100 %")
    np.testing.assert_allclose(points["y"], 0.0, atol=1e-9)


def test_plot_segments_joins_each_segment_to_its_clip_mean(rng, close_figures):
    from bag_of_songs.plot import plot_segments

    t = _table(rng)  # 8 clips of 5 segments, 4 per class
    ax = plot_segments(t, label_column="label", features=["mean_rms", "mean_mfcc1"], n_clips=2)
    assert len(ax.lines) == 2 * 2 * 5  # one line per segment of the 4 clips shown
    first = t[t["audio_file"] == "c0.wav"]
    line = ax.lines[0].get_xydata()
    assert line[0].tolist() == pytest.approx([first["mean_rms"].mean(), first["mean_mfcc1"].mean()])
    legend = [x.get_text() for x in ax.get_legend().get_texts()]
    assert legend[0] == "A: c0 (5 segments)" and len(legend) == 4


def test_plot_results_draws_derived_rows_apart_and_refuses_ambiguous_bars(close_figures):
    from bag_of_songs.plot import plot_results

    res = pd.DataFrame({"level": ["fst", "fst", "label", "fst"],
                        "model": ["mlp", "svc", "svc", "svc"],
                        "derived_from": ["", "", "", "label"],
                        "accuracy": [0.9, 0.8, 0.6, 0.85], "f1_macro": [0.9, 0.8, 0.6, 0.85]})
    fig, axes = plot_results(res)
    legend = [x.get_text() for x in axes[-1].get_legend().get_texts()]
    assert legend == ["MLP", "SVC", "SVC (derived from label)"]
    heights = sorted(round(p.get_height(), 2) for p in axes[1].patches)
    assert heights == [0.6, 0.8, 0.85, 0.9]
    with pytest.raises(ValueError, match="several rows"):
        plot_results(res.assign(derived_from=""))  # two SVC rows for fst: one bar cannot show
    by_features = res.iloc[:3].assign(features=["seed", "seed", "seed"]).iloc[[1, 2]]
    fig, axes = plot_results(by_features, hue="features")
    assert [x.get_text() for x in axes[-1].get_legend().get_texts()] == ["seed"]


def test_plot_results_colours_a_derived_bar_as_its_own_model(close_figures):
    from bag_of_songs.plot import plot_results

    res = pd.DataFrame({"level": ["fst", "fst", "label", "label", "fst", "fst"],
                        "model": ["mlp", "svc", "mlp", "svc", "mlp", "svc"],
                        "derived_from": ["", "", "", "", "label", "label"],
                        "accuracy": [0.9, 0.8, 0.6, 0.7, 0.85, 0.75],
                        "f1_macro": [0.9, 0.8, 0.6, 0.7, 0.85, 0.75]})
    fig, axes = plot_results(res)
    handles, labels = axes[-1].get_legend_handles_labels()
    colour = {lab: h.patches[0].get_facecolor() for h, lab in zip(handles, labels, strict=True)}
    assert colour["MLP (derived from label)"] == colour["MLP"]
    assert colour["SVC (derived from label)"] == colour["SVC"]
    assert colour["MLP"] != colour["SVC"]
    hatched = {lab: h.patches[0].get_hatch() for h, lab in zip(handles, labels, strict=True)}
    assert hatched["SVC (derived from label)"] and not hatched["SVC"]


def test_plot_probabilities_marks_the_prediction_and_the_annotated_class(close_figures):
    from bag_of_songs.plot import plot_level_probabilities, plot_probabilities

    ax = plot_probabilities({"rock": 0.6, "pop": 0.3, "classical": 0.1}, true_class="pop")
    labels = [t.get_text() for t in ax.texts]
    assert "0.30  annotated" in labels and "0.60" in labels
    assert "wrong" in ax.get_xlabel()
    ax = plot_probabilities({"rock": 0.6, "pop": 0.4}, true_class="jazz")
    assert "'jazz' is not among" in ax.get_xlabel()
    ax = plot_probabilities({"a": 0.5, "b": 0.3, "c": 0.2}, top=1, true_class="c")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "a"]  # the annotated kept
    fig, axes = plot_level_probabilities(
        {"label": {"rock": 0.7, "classical": 0.3}, "fst": {"Non_classic": 0.7, "Classic": 0.3}},
        true_classes={"label": "rock", "fst": "Non_classic"})
    assert [ax.get_title() for ax in axes] == ["label", "fst"]
    assert all("right" in ax.get_xlabel() for ax in axes)


def test_plot_segment_probabilities_mean_and_vote(close_figures):
    from bag_of_songs.plot import plot_segment_probabilities

    # two confident segments for b, three hesitant ones for a: the mean says b, the vote a
    P = np.array([[0.05, 0.95], [0.05, 0.95], [0.55, 0.45], [0.55, 0.45], [0.55, 0.45]])
    ax = plot_segment_probabilities(P, ["a", "b"], true_class="b", segment=3.0)
    assert ax.get_title() == "Segments of one clip: mean -> b, vote -> a (annotated: b)"
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[0] == "0 s" and ticks[-2:] == ["clip: mean", "clip: vote"]
    widths_a = [p.get_width() for p in ax.patches[:7]]  # class a's bars, one per row
    assert widths_a[5] == pytest.approx(0.35) and widths_a[6] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="shape"):
        plot_segment_probabilities(P, ["a", "b", "c"])


def test_top_tags_and_taggram(close_figures):
    from bag_of_songs.plot import plot_taggram, top_tags

    tags = ["rock", "pop", "classical", "jazz"]
    T = np.array([[0.9, 0.1, 0.2, 0.5], [0.7, 0.3, 0.2, 0.5]])
    top = top_tags(T, tags, n=3)
    assert top["tag"].tolist() == ["rock", "jazz", "pop"]
    np.testing.assert_allclose(top["probability"], [0.8, 0.5, 0.2])
    ax = plot_taggram(T, tags, top=2)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["rock", "jazz"]
    assert ax.images[0].get_array().shape == (2, 2)  # tags x patches
    assert ax.get_xlim() == (0.0, 6.0)  # two 3 s patches
    # the colours run to the largest probability shown, and the colour bar says so
    low = T * 0.4  # all below 0.4
    ax = plot_taggram(low, tags, top=2)
    assert ax.images[0].get_clim() == (0.0, pytest.approx(0.36))  # rock's 0.9 * 0.4
    assert "0.36" in ax.figure.axes[-1].get_ylabel()
    ax = plot_taggram(low, tags, top=2, vmax=0.5)
    assert ax.images[0].get_clim()[1] == 0.5
    with pytest.raises(ValueError, match="does not match"):
        top_tags(T, tags[:3])


def test_plot_feature_ranking_says_when_it_shows_only_the_top(close_figures):
    from bag_of_songs.plot import plot_feature_ranking

    ranking = pd.DataFrame({"feature": [f"f{i}" for i in range(5)],
                            "effect": [0.9, 0.7, 0.5, 0.3, 0.1], "measure": "|d|"})
    ax = plot_feature_ranking(ranking, top=3, title="Ranked")
    assert ax.get_title() == "Ranked (top 3 of 5)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["f0", "f1", "f2"]
    assert plot_feature_ranking(ranking, top=None, title="Ranked").get_title() == "Ranked"
    assert plot_feature_ranking(ranking, top=5, title="Ranked").get_title() == "Ranked"
