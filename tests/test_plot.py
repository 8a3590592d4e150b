"""bag_of_songs.plot: the figures of notebooks 1, 2, 3 and 5, known answers drawn off-screen
(notebook 4's are in test_plot_cnn.py); and the package's promises: every name the notebooks
import, no model code, no matplotlib on ``import bag_of_songs``.

Log axes chosen from the data, MFCC ticks on row centres, confusion matrices sized by their
classes, segments around their clip's mean, derived bars in their model's colour, taggrams...
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")

import bag_of_songs.plot as plot  # noqa: E402
from bag_of_songs.plot import (  # noqa: E402
    confusion_matrix_size,
    plot_confusion_matrix,
    plot_feature_boxplots,
    plot_feature_ranking,
    plot_level_probabilities,
    plot_mfcc,
    plot_mfccs,
    plot_probabilities,
    plot_results,
    plot_segment_probabilities,
    plot_segments,
    plot_taggram,
    save_figure,
)

ROOT = Path(__file__).resolve().parents[1]

#: Every name ``bag_of_songs.plot`` exported when it was one module (its ``__all__``).
NAMES = [
    "FEATURE_LABELS", "save_figure", "spans_decades", "standardize_rows", "class_medians",
    "confusion_matrix_size", "segment_projection", "top_tags", "plot_waveform", "plot_envelope",
    "plot_frame_feature", "plot_spectrum", "plot_spectrogram", "plot_chromagram", "plot_mfcc",
    "plot_mfccs", "plot_segments", "plot_class_balance", "plot_feature_boxplots",
    "plot_correlation", "plot_feature_ranking", "plot_training_history", "plot_reliability", "plot_confusion_matrix",
    "plot_confusion_matrices", "plot_results", "plot_probabilities", "plot_level_probabilities",
    "plot_segment_probabilities", "plot_taggram", "plot_log_mels", "fusion_curve",
    "plot_fusion_weight", "plot_confusion_matrices_by_level", "rank_disagreements",
    "plot_disagreements",
]


@pytest.fixture
def close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# The package


def test_every_name_of_the_former_module_still_imports():
    assert sorted(plot.__all__) == sorted(NAMES)
    missing = [n for n in NAMES if not hasattr(plot, n)]
    assert not missing, missing


def test_every_name_a_notebook_imports_from_plot_still_imports():
    pattern = re.compile(r"from bag_of_songs\.plot import (\([^)]*\)|[^\n]*)")
    imported = set()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for match in pattern.finditer("".join(cell["source"])):
                imported |= set(re.findall(r"\w+", match.group(1)))
    assert imported, "no notebook imports from bag_of_songs.plot"
    assert imported <= set(NAMES), imported - set(NAMES)


def test_plot_imports_no_model_code_and_the_package_no_matplotlib():
    code = ("import sys, bag_of_songs; assert 'matplotlib' not in sys.modules; "
            "import bag_of_songs.plot; "
            "models = [m for m in ('torch', 'bag_of_songs.models', 'bag_of_songs.cnn', "
            "'bag_of_songs.musicnn', 'bag_of_songs.embeddings') if m in sys.modules]; "
            "assert not models, models")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# Notebook 2: signals and feature tables


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


def test_mfcc_ticks_sit_on_row_centres_labelled_1_to_n(rng, close_figures):
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
    a = rng.normal(size=(13, 40))
    fig, axes = plot_mfccs({"a": a, "b": a + 1.0})
    za, zb = (np.asarray(ax.collections[0].get_array()) for ax in axes)
    # the same coefficient offset by 1 in every frame: b is warmer than a, by the same amount
    assert np.all(zb.mean() > za.mean())
    assert "2 clips" in fig.axes[-1].get_ylabel()


def test_plot_segments_joins_each_segment_to_its_clip_mean(rng, close_figures):
    t = _table(rng)  # 8 clips of 5 segments, 4 per class
    ax = plot_segments(t, label_column="label", features=["mean_rms", "mean_mfcc1"], n_clips=2)
    assert len(ax.lines) == 2 * 2 * 5  # one line per segment of the 4 clips shown
    first = t[t["audio_file"] == "c0.wav"]
    line = ax.lines[0].get_xydata()
    assert line[0].tolist() == pytest.approx([first["mean_rms"].mean(), first["mean_mfcc1"].mean()])
    legend = [x.get_text() for x in ax.get_legend().get_texts()]
    assert legend[0] == "A: c0 (5 segments)" and len(legend) == 4


def test_plot_feature_ranking_says_when_it_shows_only_the_top(close_figures):
    ranking = pd.DataFrame({"feature": [f"f{i}" for i in range(5)],
                            "effect": [0.9, 0.7, 0.5, 0.3, 0.1], "measure": "|d|"})
    ax = plot_feature_ranking(ranking, top=3, title="Ranked")
    assert ax.get_title() == "Ranked (top 3 of 5)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["f0", "f1", "f2"]
    assert plot_feature_ranking(ranking, top=None, title="Ranked").get_title() == "Ranked"
    assert plot_feature_ranking(ranking, top=5, title="Ranked").get_title() == "Ranked"


# ---------------------------------------------------------------------------------------------
# Notebook 3: models


def test_confusion_matrix_figure_grows_with_the_classes_and_stays_readable(tmp_path,
                                                                           close_figures):
    from PIL import Image

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


def test_plot_results_draws_derived_rows_apart_and_refuses_ambiguous_bars(close_figures):
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


# ---------------------------------------------------------------------------------------------
# Notebook 5: embeddings


def test_plot_taggram_shows_the_top_tags_on_their_own_scale(close_figures):
    tags = ["rock", "pop", "classical", "jazz"]
    T = np.array([[0.9, 0.1, 0.2, 0.5], [0.7, 0.3, 0.2, 0.5]])
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
        plot_taggram(T, tags[:3])
