"""The figures of notebook 4 in bag_of_songs.plot (log-mel spectrograms, the late-fusion curve,
confusion matrices per level, disagreements): known answers, drawn off-screen. The numbers they
draw (``fusion_curve``, ``rank_disagreements``) are tested in test_analysis.py."""

from __future__ import annotations

import numpy as np
import pytest

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")

from bag_of_songs.analysis import fusion_curve, rank_disagreements  # noqa: E402
from bag_of_songs.plot import (  # noqa: E402
    plot_confusion_matrices_by_level,
    plot_disagreements,
    plot_fusion_weight,
    plot_log_mels,
    save_figure,
)


@pytest.fixture
def close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def _log_mel(rng, n_mels=96, t=1292, level=-20.0):
    return (level + 10 * rng.standard_normal((n_mels, t))).astype(np.float16)


# ---------------------------------------------------------------------------------------------
# Figures


def test_plot_log_mels_shares_one_db_scale_and_marks_a_crop(rng, close_figures, tmp_path):
    mels = {"Classic": _log_mel(rng, level=-40.0), "Rock": _log_mel(rng, level=-10.0),
            "Pop": _log_mel(rng), "Electronic": _log_mel(rng)}
    fig, axes = plot_log_mels(mels, crop_frames=129, title="one clip per class")
    assert [ax.get_title() for ax in axes] == list(mels)
    limits = {ax.collections[0].get_clim() for ax in axes}
    assert len(limits) == 1  # one colour scale for every panel
    vmin, vmax = limits.pop()
    assert vmax == pytest.approx(max(float(v.max()) for v in mels.values()))
    assert vmax - vmin == pytest.approx(80.0)
    crop = axes[0].patches[0]
    assert crop.get_width() == pytest.approx(129 * 512 / 22050)  # 3.0 s
    path = save_figure(fig, tmp_path / "log_mel_per_class.png")
    assert path.stat().st_size < 200_000


def test_plot_log_mels_two_rows_beyond_four_and_refusals(rng, close_figures):
    mels = {str(i): _log_mel(rng, t=200) for i in range(6)}
    fig, axes = plot_log_mels(mels)
    assert len(axes) == 6 and len({ax.get_subplotspec().rowspan.start for ax in axes}) == 2
    with pytest.raises(ValueError, match="no spectrograms"):
        plot_log_mels({})
    with pytest.raises(ValueError, match="2-D"):
        plot_log_mels({"a": np.zeros(10)})


def test_plot_fusion_weight_marks_the_chosen_weight(rng, close_figures):
    y = rng.integers(0, 2, 20)
    curve = fusion_curve(rng.dirichlet([1, 1], 20), rng.dirichlet([1, 1], 20), y)
    fig, axes = plot_fusion_weight(curve, chosen=0.3, names=("CNN", "MLP"))
    assert len(axes) == 2
    assert "CNN + MLP" in axes[0].get_title()
    for ax in axes:
        assert any(list(line.get_xdata()) == [0.3, 0.3] for line in ax.get_lines())
    with pytest.raises(ValueError, match="lacks"):
        plot_fusion_weight(curve.drop(columns="f1_macro"))


def _metrics(classes, rng):
    cm = rng.integers(0, 5, (len(classes), len(classes)))
    return {"classes": list(classes), "confusion_matrix": cm.tolist()}


def test_plot_confusion_matrices_by_level_one_row_per_level(rng, close_figures, tmp_path):
    levels = {"fst_level_label": ["Classic", "Non_classic"],
              "label": ["classical", "electronic", "pop", "rock"]}
    metrics = {lv: {m: _metrics(c, rng) for m in ("MLP", "SVC", "Random forest", "CNN",
                                                   "Hybrid")}
               for lv, c in levels.items()}
    fig, axes = plot_confusion_matrices_by_level(metrics, title="all models")
    assert [len(row) for row in axes] == [5, 5]
    assert [ax.get_title() for ax in axes[1]] == ["MLP", "SVC", "Random forest", "CNN", "Hybrid"]
    assert [t.get_text() for t in axes[1][0].get_xticklabels()] == levels["label"]
    # at most 3 panels per row, so that each stays readable at a notebook's width (~10 in)
    for row in axes:
        columns = {round(ax.get_position().x0, 3) for ax in row}
        assert len(columns) == 3
        assert all(ax.get_ylabel() == "" for ax in row if ax not in (row[0], row[3]))
    assert fig.get_figwidth() <= 12.5
    assert save_figure(fig, tmp_path / "cm.png").stat().st_size < 200_000
    fig, axes = plot_confusion_matrices_by_level(metrics, max_cols=5)
    assert len({round(ax.get_position().x0, 3) for ax in axes[0]}) == 5
    with pytest.raises(ValueError, match="max_cols"):
        plot_confusion_matrices_by_level(metrics, max_cols=0)
    with pytest.raises(ValueError, match="no metrics"):
        plot_confusion_matrices_by_level({})


def test_plot_disagreements_titles_name_both_answers(rng, close_figures):
    p_a = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    p_b = np.array([[0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
    table = rank_disagreements(["test/audios/a.wav", "test/audios/b.wav", "test/audios/c.wav"],
                               p_a, p_b, ["Classic", "Non_classic"], [0, 1, 0])
    shown = table.head(3)
    fig, axes = plot_disagreements(shown, [_log_mel(rng, t=300) for _ in range(3)])
    assert len(axes) == 3
    first = axes[0].get_title()
    assert first.splitlines() == ["a.wav, true Classic", "CNN: Classic (0.90) right",
                                  "SVC: Non_classic (0.80) wrong"]
    assert sum(ax.get_visible() for ax in fig.axes if ax.get_label() != "<colorbar>") == 3
    with pytest.raises(ValueError, match="one spectrogram per row"):
        plot_disagreements(shown, [_log_mel(rng, t=300)])
    with pytest.raises(ValueError, match="lacks"):
        plot_disagreements(shown, [_log_mel(rng, t=300)] * 3, names=("CNN", "MLP"))
