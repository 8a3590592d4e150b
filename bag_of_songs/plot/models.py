"""Figures of notebook 3 (``notebooks/3-models-prediction.ipynb``): training, scores, answers.

The training history of a network, confusion matrices (one, or several side by side), the
test scores per label level and model, a model's class probabilities for one file, per level
or per segment, and their reliability diagram. Notebooks 4 and 5 draw their histories, scores
and matrices with these too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from ._common import _MODEL_NAMES, _axes, _grid_shape, _legend_outside

__all__ = [
    "confusion_matrix_size",
    "plot_training_history",
    "plot_confusion_matrix",
    "plot_confusion_matrices",
    "plot_results",
    "plot_probabilities",
    "plot_level_probabilities",
    "plot_segment_probabilities",
    "plot_reliability",
]


def confusion_matrix_size(classes, *, min_side: float = 3.4) -> tuple[float, float]:
    """Figure size (inches) of one confusion matrix: readable for 2 classes and for 16.

    The matrix itself is at least ``min_side`` inches square (340 pixels at the 100 dpi of
    :func:`save_figure`), and 0.5 inch per class beyond that; the class names add room on the
    left and below. So a 2-class matrix saves to about 480 x 420 pixels, a 16-class one to
    about 1,000 x 950.

    Used in ``notebooks/3-models-prediction.ipynb`` (through :func:`plot_confusion_matrix`).

    Parameters
    ----------
    classes : sequence of str
    min_side : float
        Smallest side of the matrix in inches.

    Returns
    -------
    width, height : float

    Examples
    --------
    >>> confusion_matrix_size(["Classic", "Non_classic"])
    (4.99, 4.87)
    >>> confusion_matrix_size([f"genre_{i}" for i in range(16)])
    (9.32, 9.26)
    """
    n = max(1, len(classes))
    longest = max((len(str(c)) for c in classes), default=1)
    side = max(min_side, 0.5 * n)
    names = 0.09 * longest  # about 0.09 in per character at 8-9 pt
    return round(side + 0.6 + names, 2), round(side + 0.7 + 0.07 * longest, 2)


def plot_training_history(history: pd.DataFrame, *, best_epoch: int | None = None, fig=None,
                          axes=None, model: str = "MLP"):
    """Training and validation loss and accuracy per epoch, with the early-stopping epoch.

    Used in ``notebooks/3-models-prediction.ipynb`` with
    :func:`bag_of_songs.models.train_mlp`.

    Parameters
    ----------
    history : pandas.DataFrame
        Columns ``epoch, train_loss, train_accuracy, val_loss, val_accuracy``;
        ``history.attrs`` may hold ``best_epoch`` and ``stopped_epoch``.
    best_epoch : int, optional
        The epoch whose weights were kept (default: ``history.attrs["best_epoch"]``).
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw two panels in.
    axes : sequence of two matplotlib.axes.Axes, optional
        Loss and accuracy panels.
    model : str
        The model's name in the titles, e.g. ``"CNN"`` (or a kind such as ``"cnn"``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of two matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.6, 0.4],
    ...                         "train_accuracy": [0.5, 0.7, 0.8], "val_loss": [1.1, 0.8, 0.9],
    ...                         "val_accuracy": [0.4, 0.6, 0.55]})
    >>> fig, axes = plot_training_history(history, best_epoch=2, model="cnn",
    ...                                   fig=Figure(layout="constrained"))
    >>> [ax.get_title() for ax in axes]
    ['CNN loss', 'CNN accuracy']
    """
    name = _MODEL_NAMES.get(model, model)

    if axes is None:
        if fig is None:
            fig = plt.figure(figsize=(10, 3.3), layout="constrained")
        axes = fig.subplots(1, 2)
    axes = list(axes)
    fig = axes[0].figure
    best = best_epoch if best_epoch is not None else history.attrs.get("best_epoch")
    stopped = history.attrs.get("stopped_epoch", int(history["epoch"].max()))
    for ax, what in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(history["epoch"], history[f"train_{what}"], marker=".", label="train")
        if history[f"val_{what}"].notna().any():
            ax.plot(history["epoch"], history[f"val_{what}"], marker=".", label="validation")
        if best is not None:
            ax.axvline(best, color="k", linestyle="--", linewidth=1,
                       label=f"best epoch {best} (stopped at {stopped})")
        ax.set_xlabel("Epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("Loss" if what == "loss" else "Accuracy")
        ax.set_title(f"{name} {what}")
        ax.legend(fontsize="small")
    axes[1].set_ylim(-0.02, 1.02)
    return fig, axes


def plot_confusion_matrix(cm, classes: Sequence[str] | None = None, *, ax=None,
                          normalize: bool = False, title: str | None = None,
                          cmap: str = "Blues", colorbar: bool = False):
    """A confusion matrix: true classes in rows, predicted classes in columns.

    Used in ``notebooks/3-models-prediction.ipynb`` with :func:`bag_of_songs.models.evaluate`.

    Parameters
    ----------
    cm : array-like [shape=(c, c)] or dict
        Counts, or the dict returned by ``evaluate`` (its ``confusion_matrix`` and
        ``classes`` are used).
    classes : sequence of str, optional
        Class names in the order of ``cm`` (taken from the dict when ``cm`` is one).
    ax : matplotlib.axes.Axes, optional
    normalize : bool
        Show each row as fractions of that true class.
    title : str, optional
    cmap : str
    colorbar : bool

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> metrics = {"classes": ["Classic", "Non_classic"], "confusion_matrix": [[8, 2], [1, 9]]}
    >>> ax = plot_confusion_matrix(metrics, normalize=True, ax=Figure().subplots())
    >>> [t.get_text() for t in ax.texts]
    ['0.80', '0.20', '0.10', '0.90']
    """
    if isinstance(cm, Mapping):
        classes = classes if classes is not None else cm["classes"]
        cm = cm["confusion_matrix"]
    cm = np.asarray(cm, dtype=float)
    if classes is None:
        classes = [str(i) for i in range(len(cm))]
    n = len(classes)
    ax = _axes(ax, figsize=confusion_matrix_size(classes))
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        data, fmt = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0), ".2f"
    else:
        data, fmt = cm, ".0f"
    sns.heatmap(data, annot=n <= 20, fmt=fmt, cmap=cmap, cbar=colorbar, ax=ax, square=True,
                xticklabels=classes, yticklabels=classes, vmin=0,
                vmax=1 if normalize else None,
                annot_kws={"fontsize": 12 if n <= 4 else 10 if n <= 9 else 8})
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.tick_params(axis="y", rotation=0)
    if n > 2 or max(map(len, classes)) > 9:
        ax.tick_params(axis="x", rotation=45)
        for t in ax.get_xticklabels():
            t.set_horizontalalignment("right")
            t.set_rotation_mode("anchor")
    if title:
        ax.set_title(title)
    return ax


def plot_confusion_matrices(metrics: Mapping[str, Mapping], *, normalize: bool = False,
                            fig=None, title: str | None = None, max_cols: int = 3):
    """Confusion matrices of several models side by side, on the same classes.

    At most ``max_cols`` panels per row (more models wrap to further rows), so that every
    panel keeps a readable size at a notebook's width.

    Used in ``notebooks/3-models-prediction.ipynb`` to compare the MLP, SVC and random forest.

    Parameters
    ----------
    metrics : mapping model name -> dict
        What :func:`bag_of_songs.models.evaluate` returns for each model.
    normalize : bool
        Show each row as fractions of that true class.
    fig : matplotlib.figure.Figure, optional
        An empty figure (or subfigure) to draw in.
    title : str, optional
        Title over all panels.
    max_cols : int
        Panels per row at most.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
        One per model, in the order of ``metrics``.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> metrics = {"classes": ["Classic", "Non_classic"], "confusion_matrix": [[8, 2], [1, 9]]}
    >>> fig, axes = plot_confusion_matrices({"MLP": metrics, "SVC": metrics},
    ...                                     fig=Figure(layout="constrained"))
    >>> [ax.get_title() for ax in axes]
    ['MLP', 'SVC']
    """
    if not metrics:
        raise ValueError("no metrics to plot")
    n_rows, n_cols = _grid_shape(len(metrics), max_cols)
    classes = next(iter(metrics.values()))["classes"]
    if fig is None:
        w, h = confusion_matrix_size(classes, min_side=2.6)
        fig = plt.figure(figsize=(w * n_cols, h * n_rows + (0.3 if title else 0.0)),
                         layout="constrained")
    grid = fig.subplots(n_rows, n_cols, squeeze=False)
    axes = list(grid.flat[:len(metrics)])
    for ax in grid.flat[len(metrics):]:
        ax.remove()
    for i, (ax, (name, m)) in enumerate(zip(axes, metrics.items(), strict=True)):
        plot_confusion_matrix(m, ax=ax, normalize=normalize, title=name)
        if i % n_cols:
            ax.set_ylabel("")
    if title:
        fig.suptitle(title)
    return fig, axes


def _result_labels(results: pd.DataFrame, hue: str) -> pd.Series:
    """The legend entry of each row: model names spelled out, derived rows marked."""
    names = _result_bases(results, hue)
    if hue == "model" and "derived_from" in results.columns:
        src = results["derived_from"].fillna("").astype(str)
        names = names.where(src == "", names + " (derived from " + src + ")")
    return names


def _result_bases(results: pd.DataFrame, hue: str) -> pd.Series:
    """The bar's own model (or feature set) of each row, derived or not: it sets the colour."""
    if hue != "model":
        return results[hue].astype(str)
    return results["model"].map(lambda m: _MODEL_NAMES.get(m, m)).astype(str)


def plot_results(results: pd.DataFrame, *, metrics: Sequence[str] = ("accuracy", "f1_macro"),
                 hue: str = "model", fig=None, axes=None, title: str | None = None):
    """Test scores per label level, one bar per model (or per feature set), one panel per metric.

    Rows of coarse levels *derived* from the finest level's model (a ``derived_from`` column,
    as :func:`bag_of_songs.models.compare_models` returns) get bars of their own, labelled
    "SVC (derived from label)", in their model's colour and hatched.

    Used in ``notebooks/3-models-prediction.ipynb`` and
    ``notebooks/5-pretrained-embeddings.ipynb`` with :func:`bag_of_songs.models.compare_models`.

    Parameters
    ----------
    results : pandas.DataFrame
        Columns ``level``, ``hue`` (e.g. ``model``) and the ``metrics`` (scores in [0, 1]).
    metrics : sequence of str
    hue : str
        The column that tells the bars of a level apart: ``"model"`` (default) or e.g. a
        ``features`` column of a comparison of feature sets.
    fig : matplotlib.figure.Figure, optional
    axes : sequence of matplotlib.axes.Axes, optional
        One per metric.
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes

    Raises
    ------
    ValueError
        When two rows share a level and a bar (their scores would be averaged silently).

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> results = pd.DataFrame({"level": ["fst_level_label"] * 2, "model": ["mlp", "svc"],
    ...                         "accuracy": [0.5, 0.25], "f1_macro": [0.5, 0.25]})
    >>> fig, axes = plot_results(results, fig=Figure(layout="constrained"))
    >>> [t.get_text() for t in axes[-1].get_legend().get_texts()]
    ['MLP', 'SVC']
    """
    metrics = list(metrics)
    missing = [c for c in ("level", hue, *metrics) if c not in results.columns]
    if missing:
        raise ValueError(f"the results lack column(s) {missing}")
    bars = _result_labels(results, hue)
    bases = _result_bases(results, hue)
    colours = {b: f"C{i % 10}" for i, b in enumerate(dict.fromkeys(bases))}
    dup = pd.DataFrame({"level": results["level"].astype(str), "bar": bars}).duplicated()
    if dup.any():
        raise ValueError(f"several rows for (level, {hue}) "
                         f"{list(zip(results['level'][dup], bars[dup], strict=True))[:3]}: "
                         "select one model (or one feature set) per bar")
    levels = list(dict.fromkeys(results["level"].astype(str)))
    names = list(dict.fromkeys(bars))
    if axes is None:
        # one panel per metric, side by side; stacked when many bars make the panels wide
        width = min(12.0, max(4.5, 0.45 * len(levels) * (len(names) + 1) + 1.5))
        stacked = width * len(metrics) > 14
        if fig is None:
            size = ((width + 3.5, 3.0 * len(metrics)) if stacked
                    else (width * len(metrics) / 1.3, 3.6))
            fig = plt.figure(figsize=size, layout="constrained")
        axes = (fig.subplots(len(metrics), 1, squeeze=False)[:, 0] if stacked
                else fig.subplots(1, len(metrics), squeeze=False)[0])
    axes = list(axes)
    fig = axes[0].figure
    spelled = {"accuracy": ("Accuracy", "Test accuracy"),
               "f1_macro": ("Macro F1", "Test macro F1"), "f1": ("F1", "Test F1")}
    width = 0.8 / len(names)
    # the bars a level has sit side by side, centred on its tick
    present = {lv: [n for n in names if ((results["level"].astype(str) == lv) & (bars == n)).any()]
               for lv in levels}
    for ax, metric in zip(axes, metrics, strict=True):
        for name in names:
            rows = results[(bars == name).to_numpy()]
            x = [levels.index(str(lv)) + width * (present[str(lv)].index(name)
                                                  - (len(present[str(lv)]) - 1) / 2)
                 for lv in rows["level"]]
            derived = "(derived from" in name
            base = bases[(bars == name).to_numpy()].iloc[0]
            container = ax.bar(x, rows[metric].astype(float), width=width * 0.95,
                               color=colours[base], label=name,
                               hatch="//" if derived else None,
                               edgecolor="white" if derived else None)
            ax.bar_label(container, fmt="%.2f", fontsize=7, padding=1)
        ax.set_xticks(range(len(levels)), levels)
        ax.set_ylim(0, 1.12)
        ax.set_xlabel("Label level")
        ylabel, panel = spelled.get(metric, (metric, f"Test {metric}"))
        ax.set_ylabel(ylabel)
        ax.set_title(panel)
    _legend_outside(axes[-1], title=hue)
    if title:
        fig.suptitle(title)
    return fig, axes


def plot_probabilities(probabilities: Mapping[str, float], *, ax=None,
                       top: int | None = None, true_class: str | None = None,
                       title: str | None = None):
    """A model's class probabilities for one file: the prediction and the annotated class marked.

    The most likely class is orange; the annotated (true) class, when given, has a black
    outline and "annotated" after its probability, so a wrong prediction shows at a glance. A
    true class the model does not know is named in the x label.

    Used in ``notebooks/3-models-prediction.ipynb`` with
    :func:`bag_of_songs.models.predict_file`.

    Parameters
    ----------
    probabilities : mapping class -> probability
    ax : matplotlib.axes.Axes, optional
    top : int, optional
        Show only the ``top`` most likely classes (and the annotated one).
    true_class : str, optional
        The annotated class of the file.
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = plot_probabilities({"rock": 0.6, "pop": 0.3, "classical": 0.1}, true_class="pop",
    ...                         ax=Figure().subplots())
    >>> ax.get_xlabel()
    'Probability (orange: predicted; outlined: annotated; wrong)'
    """
    items = sorted(probabilities.items(), key=lambda kv: -kv[1])
    shown = items[: top or None]
    if true_class is not None and top and str(true_class) not in [str(k) for k, _ in shown]:
        shown += [kv for kv in items if str(kv[0]) == str(true_class)]
    ax = _axes(ax, figsize=(6, 0.35 * len(shown) + 1.3))
    names = [str(k) for k, _ in shown][::-1]
    values = [float(v) for _, v in shown][::-1]
    best = str(items[0][0]) if items else None
    colors = ["tab:orange" if n == best else "tab:gray" for n in names]
    truth = None if true_class is None else str(true_class)
    edges = ["k" if n == truth else "none" for n in names]
    bars = ax.barh(names, values, color=colors, edgecolor=edges, linewidth=1.8)
    ax.bar_label(bars, labels=[f"{v:.2f}" + ("  annotated" if n == truth else "")
                               for n, v in zip(names, values, strict=True)],
                 fontsize=8, padding=2)
    ax.set_xlim(0, 1.3)
    ax.set_xticks(np.linspace(0, 1, 6))
    xlabel = "Probability"
    if truth is not None:
        verdict = ("right" if truth == best else "wrong") if truth in names else \
            f"the annotated class {truth!r} is not among the model's classes"
        xlabel += f" (orange: predicted; outlined: annotated; {verdict})" if truth in names \
            else f" ({verdict})"
    ax.set_xlabel(xlabel, fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def plot_level_probabilities(levels: Mapping[str, Mapping[str, float]], *,
                             true_classes: Mapping[str, str] | None = None, fig=None,
                             title: str | None = None):
    """One panel of class probabilities per label level, as ``predict_file(levels="all")``
    returns them (the coarse levels derived from the fine one, so they always agree).

    Used in ``notebooks/3-models-prediction.ipynb`` (derived levels).

    Parameters
    ----------
    levels : mapping level -> (mapping class -> probability)
    true_classes : mapping level -> class, optional
        The annotated class at each level.
    fig : matplotlib.figure.Figure, optional
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> fig, axes = plot_level_probabilities(
    ...     {"label": {"rock": 0.7, "classical": 0.3},
    ...      "fst_level_label": {"Non_classic": 0.7, "Classic": 0.3}},
    ...     fig=Figure(layout="constrained"))
    >>> [ax.get_title() for ax in axes]
    ['label', 'fst_level_label']
    """
    if not levels:
        raise ValueError("no levels to plot")
    sizes = [len(p) for p in levels.values()]
    if fig is None:
        fig = plt.figure(figsize=(6.5, sum(0.32 * n + 0.9 for n in sizes) + 0.4),
                         layout="constrained")
    axes = list(fig.subplots(len(levels), 1, squeeze=False,
                             gridspec_kw={"height_ratios": [n + 2 for n in sizes]})[:, 0])
    for ax, (level, proba) in zip(axes, levels.items(), strict=True):
        plot_probabilities(proba, ax=ax, title=level,
                           true_class=(true_classes or {}).get(level))
    if title:
        fig.suptitle(title)
    return fig, axes


def plot_segment_probabilities(proba: np.ndarray, classes: Sequence[str], *,
                               true_class: str | None = None, segment: float | None = None,
                               ax=None, title: str | None = None):
    """Each segment's class probabilities and the clip's two pooled answers: mean and vote.

    One stacked bar per segment (its probabilities sum to 1), then two bars for the clip:
    the **mean** of the segments' probabilities (what :func:`bag_of_songs.models.predict_clips`
    returns by default) and the **vote** (the share of segments whose most likely class is
    each class). The mean keeps how sure each segment is; the vote counts a hesitant segment
    as much as a certain one.

    Used in ``notebooks/3-models-prediction.ipynb`` (segment models).

    Parameters
    ----------
    proba : np.ndarray [shape=(n_segments, n_classes)]
        A segment model's probabilities for the rows of one clip.
    classes : sequence of str [length n_classes]
    true_class : str, optional
        The clip's annotated class (named in the title).
    segment : float, optional
        The segment length in seconds (labels the segments by their start time).
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> P = np.array([[0.05, 0.95], [0.55, 0.45], [0.55, 0.45]])  # one sure, two hesitant
    >>> ax = plot_segment_probabilities(P, ["Classic", "Non_classic"], segment=3.0,
    ...                                 ax=Figure().subplots())
    >>> ax.get_title()
    'Segments of one clip: mean -> Non_classic, vote -> Classic'
    """
    P = np.asarray(proba, dtype=float)
    if P.ndim != 2 or P.shape[1] != len(classes) or not len(P):
        raise ValueError(f"expected probabilities of shape (n_segments, {len(classes)}), got "
                         f"{P.shape}")
    mean = P.mean(axis=0)
    vote = np.bincount(P.argmax(axis=1), minlength=len(classes)) / len(P)
    rows = np.vstack([P, mean, vote])
    names = [f"{i * segment:g} s" if segment else f"segment {i}" for i in range(len(P))]
    names += ["clip: mean", "clip: vote"]
    ax = _axes(ax, figsize=(8, 0.28 * len(rows) + 1.4))
    y = np.arange(len(rows))[::-1].astype(float)
    y[-2:] -= 0.6  # a gap between the segments and the clip's answers
    left = np.zeros(len(rows))
    for j, c in enumerate(classes):
        ax.barh(y, rows[:, j], left=left, color=f"C{j % 10}", label=str(c), height=0.8)
        left += rows[:, j]
    ax.set_yticks(y, names)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Probability")
    _legend_outside(ax, title="class")
    pred_mean, pred_vote = classes[int(mean.argmax())], classes[int(vote.argmax())]
    ax.set_title(title or (f"Segments of one clip: mean -> {pred_mean}, vote -> {pred_vote}"
                           + (f" (annotated: {true_class})" if true_class is not None else "")))
    return ax


def plot_reliability(reliability, *, ax=None, title: str | None = None):
    """The reliability diagram: accuracy against confidence per bin, the diagonal, the ECE.

    Bars of each bin's accuracy (its count on top; below the diagonal: over-confident), dots at
    (mean confidence, accuracy), and the ECE (count-weighted ``|confidence - accuracy|``).

    Used in ``notebooks/3-models-prediction.ipynb`` with
    :func:`bag_of_songs.models.calibration.reliability_table`.

    Parameters
    ----------
    reliability : pandas.DataFrame or sequence of dict
        The table (columns ``bin_lower, bin_upper, count, confidence, accuracy``) or its rows
        as records (as ``--json`` writes them).
    ax : matplotlib.axes.Axes, optional
    title : str, optional
        Before the ECE in the title (default ``"Reliability"``).

    Returns
    -------
    ax : matplotlib.axes.Axes

    Raises
    ------
    ValueError
        When the table lacks a column or holds no prediction.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> table = [{"bin_lower": 0.8, "bin_upper": 0.9, "count": 10, "confidence": 0.9,
    ...           "accuracy": 0.6}]  # 10 predictions at 0.9, 6 right
    >>> ax = plot_reliability(table, ax=Figure().subplots())
    >>> ax.get_title(), [t.get_text() for t in ax.texts]
    ('Reliability (ECE 0.300)', ['n=10'])
    """
    table = pd.DataFrame(reliability)
    missing = sorted({"bin_lower", "bin_upper", "count", "confidence", "accuracy"} - set(table))
    if missing:
        raise ValueError(f"the reliability table lacks column(s) {missing}")
    table = table[table["count"] > 0].astype(float)
    if table.empty:
        raise ValueError("the reliability table holds no prediction")
    count, conf, acc = (table[c].to_numpy() for c in ("count", "confidence", "accuracy"))
    ece = float((count * np.abs(conf - acc)).sum() / count.sum())
    ax = _axes(ax, figsize=(6.4, 4.0))
    bars = ax.bar(table["bin_lower"], acc, np.maximum(table["bin_upper"] - table["bin_lower"],
                  0.01), align="edge", alpha=0.6, edgecolor="C0", label="accuracy of the bin")
    ax.bar_label(bars, labels=[f"n={c:.0f}" for c in count], fontsize=7, padding=1)
    ax.plot([0, 1], [0, 1], color="k", linestyle="--", linewidth=1, label="calibrated")
    ax.plot(conf, acc, "o", color="C1", label="(mean confidence, accuracy)")
    ax.set(xlim=(0, 1), ylim=(0, 1.08), xlabel="Confidence (top-class probability)",
           ylabel="Accuracy", title=f"{title or 'Reliability'} (ECE {ece:.3f})")
    _legend_outside(ax)
    return ax
